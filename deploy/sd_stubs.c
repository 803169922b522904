/* Stand-ins for the two libsystemd functions Debian's static libdbus-1.a references, so the daemon links fully static.
 *
 * Debian builds libdbus with systemd support; its Libs.private says -lsystemd, but no libsystemd.a exists, and
 * Venus OS has no systemd anyway (DEPLOY.md §7). libdbus calls these only in its server side, to take listening
 * sockets handed over by systemd socket activation (_dbus_listen_systemd_sockets). The daemon is a D-Bus client
 * and never listens, so these are never reached; should they be, "no sockets passed" is the truthful answer.
 * Linked only into the static (BMSAGG_STATIC) build; a dynamic build gets the real ones through libdbus-1.so. */

/* Prototypes as in <systemd/sd-daemon.h>, which the cross sysroot does not ship. */
int sd_listen_fds(int unset_environment);
int sd_is_socket(int fd, int family, int type, int listening);

/* Returns the number of sockets passed by systemd: none. */
int sd_listen_fds(int unset_environment) {
    (void)unset_environment;
    return 0;
}

/* Returns 1 if fd is a socket of the given kind, 0 if not: never called, as no sockets are passed. */
int sd_is_socket(int fd, int family, int type, int listening) {
    (void)fd;
    (void)family;
    (void)type;
    (void)listening;
    return 0;
}
