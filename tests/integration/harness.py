"""Test bench for the daemon: a private system bus, mock packs, a mock settings service, the daemon.

Everything started here is stopped by pid in stop(). Values are read with blocking calls that carry
a short timeout; waits poll against a deadline instead of sleeping a fixed time.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import dbus

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = '/usr/bin/python3'
AGG = 'com.victronenergy.battery.bms_aggregator'
IFACE = 'com.victronenergy.BusItem'

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={sock}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_match_rules_per_connection">1024</limit>
</busconfig>
"""

# Fast but faithful: the policy is the default one except the slow clocks (hold, ramp, latch,
# staleness), so convergence takes a tick or two instead of minutes.
FAST_CONFIG = """
[bank]
stale_timeout_s = 2
[tiers]
unlock_hold_s = 0
ramp_a_per_s = 1000
[alarms]
alarm_clear_hold_s = 2
[dbus]
poll_interval_s = 0.2
ride_through_s = 5
startup_wait_s = 3
call_timeout_ms = 300
settings_wait_s = 1
"""


def daemon_binary():
    b = os.environ.get('BMSAGG_DAEMON')
    if b:
        return b
    return os.path.join(HERE, '..', '..', 'build', 'bin', 'bms-aggregator')


def plain(v):
    """D-Bus value -> Python: the invalid empty array becomes None."""
    if isinstance(v, dbus.Array) and len(v) == 0:
        return None
    if isinstance(v, (dbus.Double,)):
        return float(v)
    if isinstance(v, (dbus.Int32, dbus.Int64, dbus.UInt32, dbus.Int16, dbus.UInt16, dbus.Byte)):
        return int(v)
    if isinstance(v, dbus.String):
        return str(v)
    return v


def terminate(procs):
    """Ends the given processes: SIGCONT first (a test may have stopped one), SIGTERM, then SIGKILL
    for any that has not gone after 5 s."""
    for p in procs:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
            except OSError:
                pass
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Bench:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='bmsagg-it-')
        self.procs = []
        self.packs = {}
        self.daemon = None
        self.daemon_log = os.path.join(self.dir, 'daemon.log')
        sock = os.path.join(self.dir, 'system_bus_socket')
        conf = os.path.join(self.dir, 'bus.conf')
        with open(conf, 'w') as f:
            f.write(BUS_CONF.format(sock=sock))
        p = subprocess.Popen(['dbus-daemon', '--config-file=' + conf, '--nofork', '--print-address=1'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.bus_proc = p
        self.address = p.stdout.readline().decode().strip()
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        self.env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        self.bus = dbus.bus.BusConnection(self.address)

    # ---- processes ----
    def start_pack(self, name, wait=True, **params):
        import json
        if not name.startswith('com.'):
            name = 'com.victronenergy.battery.' + name
        with open(os.path.join(self.dir, name + '.log'), 'a') as log:
            p = subprocess.Popen([PYTHON, os.path.join(HERE, 'mock_bms.py'), '--name', name,
                                  '--params', json.dumps(params)], env=self.env, stdout=log, stderr=log)
        self.procs.append(p)
        self.packs[name] = p
        if wait:
            self.wait_name(name)
        return name

    def start_packs(self, specs):
        """Start several packs in parallel: specs = [(name, params), ...]."""
        names = [self.start_pack(n, wait=False, **p) for n, p in specs]
        for n in names:
            self.wait_name(n)
        return names

    def kill_pack(self, name, sig=signal.SIGTERM):
        p = self.packs[name]
        p.send_signal(sig)
        if sig in (signal.SIGTERM, signal.SIGKILL):
            p.wait(timeout=10)
            self.wait_for(lambda: not self.has_owner(name), what='%s gone' % name)

    def start_settings(self, **params):
        import json
        with open(os.path.join(self.dir, 'settings.log'), 'a') as log:
            p = subprocess.Popen([PYTHON, os.path.join(HERE, 'mock_settings.py'), '--params', json.dumps(params)],
                                 env=self.env, stdout=log, stderr=log)
        self.procs.append(p)
        self.settings = p
        self.wait_name('com.victronenergy.settings')
        return p

    def write_config(self, text, name='test.ini'):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def start_daemon(self, config=FAST_CONFIG, args=(), wait=True):
        self.config_path = self.write_config(config)
        env = dict(self.env)
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
        env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')
        with open(self.daemon_log, 'a') as log:
            self.daemon = subprocess.Popen([daemon_binary(), '--config', self.config_path] + list(args),
                                           env=env, stdout=subprocess.DEVNULL, stderr=log)
        if wait:
            self.wait_name(AGG, timeout=15)
        return self.daemon

    def stop_daemon(self):
        """SIGTERM; returns the exit status (0 expected: also means ASan/UBSan found nothing)."""
        if not self.daemon:
            return None
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                return -999
        rc = self.daemon.returncode
        self.daemon = None
        return rc

    def log(self):
        try:
            with open(self.daemon_log) as f:
                return f.read()
        except OSError:
            return ''

    def stop(self):
        rc = self.stop_daemon()
        terminate(self.procs)
        try:
            self.bus.close()
        except Exception:
            pass
        self.bus_proc.terminate()
        self.bus_proc.wait(timeout=5)
        self.bus_proc.stdout.close()
        if os.environ.get('BMSAGG_KEEP_TMP'):
            sys.stderr.write('kept %s\n' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    # ---- bus access ----
    def has_owner(self, name):
        return bool(self.bus.call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                           'NameHasOwner', 's', (name,), timeout=2))

    def wait_for(self, fn, timeout=10.0, what='condition', interval=0.05):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = fn()
                if last:
                    return last
            except dbus.exceptions.DBusException as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError('timed out after %.1f s waiting for %s (last: %r)\n--- daemon log:\n%s'
                                     % (timeout, what, last, self.log()[-3000:]))
            if self.daemon is not None and self.daemon.poll() is not None:
                raise AssertionError('daemon exited with %s while waiting for %s\n--- daemon log:\n%s'
                                     % (self.daemon.returncode, what, self.log()[-3000:]))
            time.sleep(interval)

    def wait_name(self, name, timeout=10.0):
        self.wait_for(lambda: self.has_owner(name), timeout, 'name %s' % name)

    def call(self, service, path, method, sig='', args=(), iface=IFACE, timeout=2.0):
        return self.bus.call_blocking(service, path, iface, method, sig, args, timeout=timeout)

    def get(self, path, service=AGG):
        return plain(self.call(service, path, 'GetValue'))

    def text(self, path, service=AGG):
        return str(self.call(service, path, 'GetText'))

    def wait_value(self, path, expected, timeout=10.0, service=AGG):
        """Waits until GetValue(path) == expected (or expected(value) is true for a callable)."""
        def check():
            v = self.get(path, service)
            ok = expected(v) if callable(expected) else v == expected
            return (True, v) if ok else None
        return self.wait_for(check, timeout, '%s == %r' % (path, expected))[1]

    def pack_set(self, name, changes, quiet=False):
        if not name.startswith('com.'):
            name = 'com.victronenergy.battery.' + name
        self.call(name, '/', 'SetQuiet' if quiet else 'Set', 'a{sv}', (changes,), iface='com.victronenergy.MockBms')

    def slot_of(self, di):
        """Our diagnostic slot of the pack with DeviceInstance di."""
        for k in range(32):
            try:
                if self.get('/Packs/%d/DeviceInstance' % k) == di:
                    return k
            except dbus.exceptions.DBusException:
                return None
        return None


class BenchTest(unittest.TestCase):
    """A test with its own Bench (private bus, mocks, daemon); at the end the daemon must have
    exited 0 on SIGTERM (a sanitizer report makes it non-zero)."""

    def setUp(self):
        self.b = Bench()

    def tearDown(self):
        rc = self.b.stop()
        if rc is not None:
            self.assertEqual(rc, 0, 'daemon exit status after SIGTERM (sanitizer report?)\n' + self.b.log()[-3000:])
