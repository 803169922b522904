/* The INI configuration shared by the daemon and the simulator: strict parsing, defaults, printing. */
#ifndef BMSAGG_CONF_H
#define BMSAGG_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "policy.h"

#define CONF_MAX_LIST 32
#define CONF_NAME_LEN 128
#define CONF_ERR_LEN 512

/* Daemon-only settings ([dbus] section). */
typedef struct {
    char service_name[CONF_NAME_LEN];    /* com.victronenergy.battery.bms_aggregator */
    int device_instance;                 /* 280: preferred VRM instance */
    char product_name[CONF_NAME_LEN];    /* "BMS aggregator" */
    char custom_name[CONF_NAME_LEN];     /* "" = none */
    double poll_interval_s;              /* 2: tick period, and the re-read period of a silent pack */
    double ride_through_s;               /* 120: a vanished pack keeps its slot this long */
    double startup_wait_s;               /* 30: how long to wait for every expected pack */
    int call_timeout_ms;                 /* 2000: every D-Bus method call */
    double settings_wait_s;              /* 5: wait for com.victronenergy.settings before falling back */
    int n_packs;                         /* explicit pack services; 0 = discover */
    char packs[CONF_MAX_LIST][CONF_NAME_LEN];
    int n_exclude;                       /* discovered services to ignore */
    char exclude[CONF_MAX_LIST][CONF_NAME_LEN];
} conf_dbus;

/* Recording of what the daemon saw and did ([record] section). */
typedef struct {
    char path[CONF_NAME_LEN * 2];        /* "" = off */
    double interval_s;                   /* 2: one row per this many seconds (decimation) */
    long max_bytes;                      /* 1 MiB per file before rotation */
    int max_files;                       /* 5 files kept */
} conf_record;

typedef struct {
    pol_config pol;
    conf_dbus dbus;
    conf_record record;
} conf_t;

/* Defaults everywhere (pol_config_default plus the daemon's). */
void conf_default(conf_t *c);

/* Loads FILE over the defaults. Returns 0 on success. On any error returns -1, leaves *c
 * untouched and writes "FILE:LINE: [section] key: what is wrong" into err. Strict: unknown
 * section or key, malformed or out-of-range value, incoherent combination (tiers not
 * increasing, taper start >= end, ...) are all errors. */
int conf_load(const char *path, conf_t *c, char *err, size_t err_len);

/* Same, from a string (name is used in messages). */
int conf_load_string(const char *text, const char *name, conf_t *c, char *err, size_t err_len);

/* Prints the effective config as INI that conf_load accepts (every key, with units in comments). */
void conf_print(FILE *f, const conf_t *c);

/* Checked number parsing in the C locale, for every driver (config, scenarios, command lines).
 * Return 0 and set *out when the whole string is a finite number within [lo, hi]; else -1. */
int conf_parse_double(const char *s, double lo, double hi, double *out);
int conf_parse_long(const char *s, long lo, long hi, long *out);
/* "yes/no/true/false/on/off/1/0" */
int conf_parse_bool(const char *s, bool *out);

/* A line source for inih's ini_parse_stream, from a file or a string: it counts lines (Debian's
 * inih does not pass line numbers to the handler) and notices a line longer than inih's buffer,
 * which inih would otherwise parse as two. Shared by the config and the scenario loaders. */
typedef struct {
    FILE *f;                /* file source, or NULL for */
    const char *text_pos;   /* the rest of a string source */
    int line;               /* the line last handed out */
    bool too_long;          /* a line exceeded the buffer (the rest of it was skipped) */
    int too_long_line;      /* the first such line */
} conf_lines;

void conf_lines_init(conf_lines *l, FILE *f, const char *text);

/* ini_reader-compatible: the next line into str (num bytes), or NULL at the end. */
char *conf_lines_read(char *str, int num, conf_lines *l);

#endif
