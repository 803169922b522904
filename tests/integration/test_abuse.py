#!/usr/bin/python3
"""D-Bus abuse of the daemon on a private bus (issue 7): floods, wrong signatures, huge packs, a
flapping name, a pack that never answers, settings arriving late.

Every case asserts the same four things:
  - the daemon stays up, and exits 0 on SIGTERM at the end (tearDown; under ASan+UBSan a report or
    a leak makes that non-zero);
  - its published values stay within the invariants all along (check_invariants: CVL valid and
    plausible, CCL never above the tier limit of the published SOC spread, DCL valid);
  - memory stays bounded: VmRSS growth over the abuse under a generous bound (larger under ASan);
  - it keeps serving the other packs: a healthy pack's SOC change reaches /Soc.

Run: BMSAGG_DAEMON=build/bin/bms-aggregator /usr/bin/python3 tests/integration/test_abuse.py [-v] [Class]
"""
import json
import os
import subprocess
import time
import unittest

import dbus

from harness import AGG, FAST_CONFIG, HERE, PYTHON, BenchTest, terminate

D = dbus.Double
PEER = os.path.join(HERE, 'abuse_peer.py')
NOMINAL_CCL = 150.0
TIER_EDGES = [(5.0, 1.00), (10.0, 0.85), (15.0, 0.66)]   # core/policy.c defaults; beyond: 0.33


def tier_limit(spread):
    """The highest CCL the default tiers allow for a SOC spread (hysteresis only ever lowers it)."""
    for edge, pct in TIER_EDGES:
        if spread < edge:
            return NOMINAL_CCL * pct
    return NOMINAL_CCL * 0.33


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS')


def sanitized(pid):
    with open('/proc/%d/maps' % pid) as f:
        return 'asan' in f.read()


class AbuseTest(BenchTest):
    # VmRSS growth allowed over one abuse phase (KiB). The normal build runs in about 4 MiB; ASan's
    # shadow memory and quarantine make absolute figures meaningless there, so its bound is loose
    # (LeakSanitizer at exit is the exact check in that build).
    GROWTH_KIB = 4096
    GROWTH_KIB_ASAN = 65536

    def setUp(self):
        super().setUp()
        self.peers = []
        # A small quarantine so that ASan's RSS follows what the daemon really keeps.
        asan = os.environ.get('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
        self.b.env['ASAN_OPTIONS'] = asan + ':quarantine_size_mb=8'

    def tearDown(self):
        terminate(self.peers)   # the abusing clients first, then the bench
        super().tearDown()

    # ---- helpers ----
    def peer(self, *args):
        log = open(os.path.join(self.b.dir, 'peer%d.log' % len(self.peers)), 'w')
        p = subprocess.Popen([PYTHON, PEER] + [str(a) for a in args], env=self.b.env, stdout=log, stderr=log)
        log.close()
        self.peers.append(p)
        return p

    def stats(self, path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def start(self, socs=(80.0, 80.0, 80.0), config=FAST_CONFIG, settings=True):
        b = self.b
        if settings:
            b.start_settings()
        b.start_packs([('ttyUSB%d' % k, {'di': k + 1, 'soc': s}) for k, s in enumerate(socs)])
        b.start_daemon(config)
        b.wait_value('/System/NrOfModulesOnline', len(socs), timeout=15)
        b.wait_value('/Soc', min(socs), timeout=15)
        self.asan = sanitized(b.daemon.pid)
        self.check_invariants()

    def check_invariants(self):
        b = self.b
        self.assertIsNone(b.daemon.poll(), 'daemon exited\n' + b.log()[-3000:])
        cvl = b.get('/Info/MaxChargeVoltage')
        ccl = b.get('/Info/MaxChargeCurrent')
        dcl = b.get('/Info/MaxDischargeCurrent')
        spread = b.get('/Aggregator/SocSpread')
        self.assertIsNotNone(cvl, 'CVL invalid (BMS lost for DVCC)')
        self.assertTrue(40.0 <= cvl <= 60.0, 'CVL %r' % cvl)
        self.assertIsNotNone(ccl)
        self.assertIsNotNone(dcl)
        self.assertGreaterEqual(ccl, 0.0)
        self.assertGreaterEqual(dcl, 0.0)
        if spread is not None:
            self.assertLessEqual(ccl, tier_limit(spread) + 0.5, 'CCL %r above the tier for spread %r' % (ccl, spread))
        self.assertLessEqual(ccl, NOMINAL_CCL + 0.5)

    def watch(self, until, timeout, what, latency_s=1.0):
        """Checks the invariants and our answer time every 0.1 s until until() is true; returns the
        slowest GetValue answer seen."""
        b = self.b
        deadline = time.monotonic() + timeout
        worst = 0.0
        while True:
            t = time.monotonic()
            self.check_invariants()
            worst = max(worst, time.monotonic() - t)
            if until():
                break
            self.assertLess(time.monotonic(), deadline, 'timed out waiting for %s\n%s' % (what, b.log()[-3000:]))
            time.sleep(0.1)
        self.assertLess(worst, latency_s * 5, 'five GetValue calls took %.2f s' % worst)
        return worst

    def rss(self):
        return rss_kib(self.b.daemon.pid)

    def assert_bounded(self, before, after, factor=1):
        bound = (self.GROWTH_KIB_ASAN if self.asan else self.GROWTH_KIB) * factor
        self.assertLess(after - before, bound, 'VmRSS %d -> %d KiB (bound +%d)' % (before, after, bound))

    def assert_serves_others(self, soc):
        """A healthy pack's SOC change still reaches /Soc."""
        self.b.pack_set('ttyUSB1', {'/Soc': D(soc)})
        self.b.wait_value('/Soc', soc, timeout=10)
        self.check_invariants()


class AbuseClients(AbuseTest):
    def test_flood_getitems_getvalue(self):
        """Three processes of two threads each call GetItems/GetValue/GetText back to back for 5 s."""
        b = self.b
        self.start()
        time.sleep(1.0)   # warm-up: a few ticks, every reply buffer allocated once
        rss0 = self.rss()
        files = [os.path.join(b.dir, 'flood%d.json' % k) for k in range(3)]
        floods = [self.peer('flood', '--target', AGG, '--threads', 2, '--seconds', 5, '--stats', f) for f in files]
        # While flooded: a healthy pack's change still arrives, invariants hold.
        time.sleep(1.0)
        self.assert_serves_others(77.0)
        self.watch(lambda: all(p.poll() is not None for p in floods), 30, 'the floods to end')
        for p in floods:
            self.assertEqual(p.returncode, 0)
        totals = [self.stats(f) for f in files]
        calls = sum(t['calls'] for t in totals)
        self.assertGreater(calls, 500, totals)   # it really was answered, a few thousand times
        self.assertLess(max(t['worst_s'] for t in totals), 5.0, totals)
        rss1 = self.rss()
        self.assert_bounded(rss0, rss1)
        self.assert_serves_others(76.0)
        print('\nflood: %d calls answered in 5 s by 6 clients, VmRSS %d -> %d KiB' % (calls, rss0, rss1))

    def test_wrong_signatures_and_argument_counts(self):
        b = self.b
        self.start()
        rss0 = self.rss()
        huge = 'x' * (1 << 20)
        cases = [
            # (path, signature, args, velib's answer): the wrong type on a writeable path -> 1
            ('/CustomName', 'v', (dbus.Int32(3),), 1),
            ('/CustomName', 'v', (dbus.Dictionary({'a': dbus.Int32(1)}, signature='sv'),), 1),
            ('/CustomName', 'v', (dbus.Array([], signature='i'),), 1),
            ('/CustomName', 'v', (dbus.Struct((1, 'x'), signature='is'),), 1),
            # the right type but a 1 MB string: rejected by the writer -> 2
            ('/CustomName', 'v', (dbus.String(huge),), 2),
            # read-only paths, any type -> 1
            ('/Soc', 'v', (dbus.String(huge),), 1),
            ('/Info/MaxChargeCurrent', 'v', (dbus.Dictionary({'x': D(1e9)}, signature='sv'),), 1),
            ('/Info/MaxChargeVoltage', 'v', (D(float('nan')),), 1),
            ('/Aggregator/AcknowledgeAlarm', 'v', (dbus.String('1'),), 1),
        ]
        for path, sig, args, want in cases:
            rc = b.call(AGG, path, 'SetValue', sig, args, timeout=5)
            self.assertEqual(rc, want, '%s %r' % (path, args[0].__class__))
        # Not a variant, no argument, two arguments: an error reply or a refusal, never silence.
        odd = [('/CustomName', 'SetValue', 's', ('plain string',)),
               ('/CustomName', 'SetValue', '', ()),
               ('/CustomName', 'SetValue', 'vv', (dbus.String('a'), dbus.String('b'))),
               ('/Soc', 'SetValue', 'i', (5,)),
               ('/Soc', 'GetValue', 's', ('extra',)),
               ('/', 'GetItems', 'ii', (1, 2)),
               ('/Soc', 'GetItems', '', ()),
               ('/Info', 'SetValue', 'v', (D(1.0),)),
               ('/', 'SetValue', 'v', (dbus.Dictionary({'Soc': D(1.0)}, signature='sv'),)),
               ('/Soc', 'GetDescription', '', ()),
               ('/Soc', 'GetDescription', 'si', ('en', 1)),
               ('/Soc', 'NoSuchMethod', 'a{sv}', ({},)),
               ('/No/Such/Path', 'SetValue', 'v', (D(1.0),))]
        for path, member, sig, args in odd:
            try:
                r = b.call(AGG, path, member, sig, args, timeout=5)
                if member == 'SetValue':
                    self.assertNotEqual(r, 0, '%s %s(%s) accepted' % (path, member, sig))
            except dbus.exceptions.DBusException as e:
                self.assertNotIn('NoReply', e.get_dbus_name() or '', '%s %s(%s) not answered' % (path, member, sig))
            self.check_invariants()
        # Other interfaces on our paths.
        for iface in ['org.freedesktop.DBus.Properties', 'org.example.Nothing']:
            try:
                b.call(AGG, '/Soc', 'Get', 'ss', ('com.victronenergy.BusItem', 'Value'), iface=iface)
            except dbus.exceptions.DBusException as e:
                self.assertNotIn('NoReply', e.get_dbus_name() or '')
        self.assertIn('node', b.call(AGG, '/', 'Introspect', iface='org.freedesktop.DBus.Introspectable'))
        # A burst of them, to see memory stay put.
        for k in range(300):
            path, sig, args, _ = cases[k % len(cases)]
            b.call(AGG, path, 'SetValue', sig, args, timeout=5)
        # The writeable path still works and was never changed by the refused writes.
        self.assertNotEqual(b.get('/CustomName'), huge)
        self.assertEqual(b.call(AGG, '/CustomName', 'SetValue', 'v', (dbus.String('House bank'),)), 0)
        self.assertEqual(b.get('/CustomName'), 'House bank')
        self.assert_bounded(rss0, self.rss())
        self.assert_serves_others(75.0)


class AbusePacks(AbuseTest):
    def test_huge_pack(self):
        """A pack with 5000 extra paths and four 1 MB strings: GetItems replies of about 4.2 MB,
        re-read whenever it is silent for a poll interval."""
        b = self.b
        self.start()
        rss0 = self.rss()
        st = os.path.join(b.dir, 'huge.json')
        self.peer('pack', '--name', 'com.victronenergy.battery.huge', '--di', 9, '--soc', 79.0,
                  '--extra-paths', 5000, '--big-mb', 4, '--stats', st)
        # It is read and used like any pack (its paths beyond what the core reads are ignored).
        b.wait_value('/System/NrOfModulesOnline', 4, timeout=30)
        b.wait_value('/Soc', 79.0, timeout=15)
        slot = b.slot_of(9)
        self.assertIsNotNone(slot)
        # A few seconds of silence: re-read by GetItems every poll interval (0.2 s), 4 MB each.
        t_end = time.monotonic() + 5.0
        self.watch(lambda: time.monotonic() > t_end, 20, 'five seconds of huge re-reads')
        s = self.stats(st)
        self.assertGreaterEqual(s['getitems'], 3, s)
        rss1 = self.rss()
        self.assert_serves_others(74.0)
        self.assertIn(b.get('/Packs/%d/State' % slot), ('online', 'stale'))
        t_end = time.monotonic() + 4.0
        self.watch(lambda: time.monotonic() > t_end, 20, 'four more seconds of huge re-reads')
        rss2 = self.rss()
        # Flat once it has had its first few replies: the second phase adds (almost) nothing.
        self.assert_bounded(rss1, rss2)
        self.assert_bounded(rss0, rss2, factor=8)
        print('\nhuge pack: %d GetItems of ~4.2 MB answered, VmRSS %d -> %d -> %d KiB'
              % (self.stats(st)['getitems'], rss0, rss1, rss2))

    def test_flapping_name(self):
        """A pack's name appears and vanishes 100 times in 10 s (claimed 50 ms, released 50 ms)."""
        b = self.b
        self.start()
        rss0 = self.rss()
        st = os.path.join(b.dir, 'flap.json')
        self.peer('pack', '--name', 'com.victronenergy.battery.flappy', '--di', 7, '--soc', 80.0,
                  '--flap', 100, '--flap-period', 0.1, '--stats', st)
        halfway = [False]

        def done():
            s = self.stats(st)
            if s and s['releases'] >= 50 and not halfway[0]:
                halfway[0] = True
                self.assert_serves_others(78.0)   # a healthy pack's change arrives mid-flapping
            return s is not None and s['releases'] >= 100 and s['owned']
        self.watch(done, 40, '100 flaps')
        self.assertTrue(halfway[0])
        # It keeps the name after the last cycle: it ends up an online pack like the others.
        b.wait_value('/System/NrOfModulesOnline', 4, timeout=15)
        self.assertEqual(b.get('/System/NrOfBatteries'), 4)
        slot = b.slot_of(7)
        self.assertIsNotNone(slot)
        # One identity, one slot, however often it came back: slots 0..3 and no fifth.
        with self.assertRaises(dbus.exceptions.DBusException):
            b.get('/Packs/4/DeviceInstance')
        b.wait_value('/Packs/%d/Presence' % slot, 'present')
        self.assert_bounded(rss0, self.rss())
        self.assert_serves_others(77.5)

    def test_pack_that_never_answers(self):
        """A pack that answers its first GetItems, then reads every call and answers none; our
        service keeps answering within 1 s, at most one call is in flight to it."""
        b = self.b
        self.start(config=FAST_CONFIG.replace('call_timeout_ms = 300', 'call_timeout_ms = 3000'))
        b.wait_value('/Info/MaxChargeCurrent', 150.0)
        rss0 = self.rss()
        st = os.path.join(b.dir, 'mute.json')
        self.peer('pack', '--name', 'com.victronenergy.battery.mute', '--di', 5, '--soc', 80.0,
                  '--answer-first', 1, '--stats', st)
        b.wait_value('/System/NrOfModulesOnline', 4, timeout=15)
        slot = b.slot_of(5)
        # Silent from now on: re-read every 0.2 s, but it never answers. It goes stale (offline);
        # the limits are scaled to 3 of 4 packs; call failures are counted.
        t0 = time.monotonic()
        worst = self.watch(lambda: b.get('/System/NrOfModulesOffline') == 1, 20, 'the mute pack offline')
        b.wait_value('/Packs/%d/State' % slot, 'stale')
        b.wait_value('/Info/MaxChargeCurrent', 112.5)
        b.wait_value('/Aggregator/CallFailures', lambda v: v > 0, timeout=10)
        self.assert_serves_others(79.0)
        t_end = time.monotonic() + 3.0
        worst = max(worst, self.watch(lambda: time.monotonic() > t_end, 20, 'three more seconds'))
        self.assertLess(worst, 5.0)
        # One call at a time with a 3 s timeout: a call every 3 s at most, not one per tick.
        elapsed = time.monotonic() - t0
        s = self.stats(st)
        self.assertLessEqual(s['unanswered'], elapsed / 3.0 + 3, (s, elapsed))
        # Single GetValue latency while it hangs.
        for _ in range(10):
            t = time.monotonic()
            b.get('/Soc')
            self.assertLess(time.monotonic() - t, 1.0)
            time.sleep(0.05)
        self.assert_bounded(rss0, self.rss())


class AbuseSettings(AbuseTest):
    CONFIG = FAST_CONFIG.replace('[dbus]', '[dbus]\ndevice_instance = 290')

    def test_settings_late_within_the_wait(self):
        """Settings absent at start, there before settings_wait_s (here 8 s): its instance is used."""
        b = self.b
        b.start_packs([('ttyUSB%d' % k, {'di': k + 1, 'soc': 80.0}) for k in range(3)])
        b.start_daemon(self.CONFIG.replace('settings_wait_s = 1', 'settings_wait_s = 8'), wait=False)
        time.sleep(0.5)
        b.start_settings(taken=['battery:290'])
        b.wait_name(AGG, timeout=15)
        self.asan = sanitized(b.daemon.pid)
        b.wait_value('/DeviceInstance', 291)   # from settings: 290 is taken there
        b.wait_value('/System/NrOfModulesOnline', 3)
        self.check_invariants()
        self.assert_serves_others(77.0)

    def test_settings_after_the_fallback(self):
        """Settings absent past settings_wait_s: the configured instance, and it stays when the
        settings service arrives later (a service never renames itself on the bus)."""
        b = self.b
        b.start_packs([('ttyUSB%d' % k, {'di': k + 1, 'soc': 80.0}) for k in range(3)])
        b.start_daemon(self.CONFIG)
        self.asan = sanitized(b.daemon.pid)
        b.wait_value('/DeviceInstance', 290)
        b.wait_value('/System/NrOfModulesOnline', 3)
        self.assertIn('using the configured DeviceInstance 290', b.log())
        rss0 = self.rss()
        b.start_settings(taken=['battery:290'])   # it would answer 291
        t_end = time.monotonic() + 2.0
        self.watch(lambda: time.monotonic() > t_end, 20, 'two seconds with settings')
        self.assertEqual(b.get('/DeviceInstance'), 290)
        self.assert_serves_others(76.0)
        # And settings vanishing again changes nothing either.
        b.settings.terminate()
        b.settings.wait()
        b.wait_for(lambda: not b.has_owner('com.victronenergy.settings'), what='settings gone')
        self.assert_serves_others(75.0)
        self.assertEqual(b.get('/DeviceInstance'), 290)
        self.assert_bounded(rss0, self.rss())


if __name__ == '__main__':
    unittest.main()
