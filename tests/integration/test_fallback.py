#!/usr/bin/python3
"""Packs whose services lack GetItems (and the root GetValue) are still read (VENUS-DBUS.md 2.2).

Run: BMSAGG_DAEMON=build/bin/bms-aggregator /usr/bin/python3 tests/integration/test_fallback.py [-v]
"""
import unittest

import dbus

from harness import BenchTest

D = dbus.Double


class Fallback(BenchTest):
    def counts(self, name):
        return {str(k): int(v) for k, v in self.b.call('com.victronenergy.battery.' + name, '/', 'Counts',
                                                          iface='com.victronenergy.MockBms').items()}

    def test_read_without_getitems_and_without_root_getvalue(self):
        b = self.b
        b.start_settings()
        # ttyUSB0: velib-like; ttyUSB1: no GetItems (root GetValue works); ttyUSB2: neither, only
        # the per-path GetValue. No change signals at all: every reading is one of those reads.
        b.start_packs([('ttyUSB0', {'di': 1, 'soc': 90.0, 'signal_mode': 'none'}),
                       ('ttyUSB1', {'di': 2, 'soc': 88.0, 'ccl': 40.0, 'signal_mode': 'none', 'no_getitems': True}),
                       ('ttyUSB2', {'di': 3, 'soc': 87.0, 'dcl': 30.0, 'signal_mode': 'none', 'no_getitems': True,
                                    'no_root_value': True})])
        b.start_daemon()
        b.wait_value('/System/NrOfModulesOnline', 3)
        socs = {b.get('/Packs/%d/DeviceInstance' % k): b.get('/Packs/%d/Soc' % k) for k in range(3)}
        self.assertEqual(socs, {1: 90.0, 2: 88.0, 3: 87.0})
        self.assertEqual(b.get('/Soc'), 87.0)   # the lowest: the per-path pack's
        # Each pack's own limits reach the bank limits (pack share: three equal packs, so the bank
        # may carry three times the most limited pack's limit).
        b.wait_value('/Info/MaxChargeCurrent', 120.0)
        b.wait_value('/Info/MaxDischargeCurrent', 90.0)
        log = b.log()
        self.assertIn('ttyUSB1: GetItems is not implemented; reading it by GetValue on /', log)
        self.assertIn('ttyUSB2: GetValue on / is not implemented; reading it by GetValue per path', log)

        # Silent packs are re-read (every poll interval) the way that worked: new values arrive,
        # and GetItems / the root GetValue are not tried again.
        before = {n: self.counts(n) for n in ('ttyUSB1', 'ttyUSB2')}
        b.pack_set('ttyUSB1', {'/Soc': D(86.0)}, quiet=True)
        b.pack_set('ttyUSB2', {'/Soc': D(85.0), '/Info/MaxChargeCurrent': D(30.0)}, quiet=True)
        b.wait_value('/Soc', 85.0)
        b.wait_value('/Info/MaxChargeCurrent', 90.0)
        b.wait_for(lambda: self.counts('ttyUSB1')['GetValue /'] >= before['ttyUSB1']['GetValue /'] + 3,
                   what='ttyUSB1 re-read by its root GetValue')
        slot1 = b.slot_of(2)
        self.assertEqual(b.get('/Packs/%d/Soc' % slot1), 86.0)
        after = {n: self.counts(n) for n in ('ttyUSB1', 'ttyUSB2')}
        self.assertEqual(after['ttyUSB1']['GetItems'], 1)
        self.assertEqual(after['ttyUSB2']['GetItems'], 1)
        self.assertEqual(after['ttyUSB2']['GetValue /'], 1)
        self.assertEqual(b.get('/Aggregator/CallFailures'), 0)

    def test_restarted_service_starts_again_with_getitems(self):
        b = self.b
        b.start_settings()
        b.start_packs([('ttyUSB0', {'di': 1, 'soc': 80.0, 'signal_mode': 'none'}),
                       ('ttyUSB1', {'di': 2, 'soc': 70.0, 'signal_mode': 'none', 'no_getitems': True,
                                    'no_root_value': True})])
        b.start_daemon()
        b.wait_value('/Soc', 70.0)
        # The driver is replaced by one that implements GetItems (same pack): the new owner is a
        # new service, read the ordinary way.
        b.kill_pack('com.victronenergy.battery.ttyUSB1')
        b.start_pack('ttyUSB1', di=2, soc=75.0, signal_mode='none')
        b.wait_value('/Soc', 75.0)
        b.wait_for(lambda: self.counts('ttyUSB1')['GetItems'] >= 3, what='GetItems re-reads of the new driver')
        self.assertEqual(self.counts('ttyUSB1')['GetValue /'], 0)


if __name__ == '__main__':
    unittest.main()
