#!/usr/bin/python3
"""Record on a (mock) Cerbo, replay in the simulator: the daemon's recording replays identically.

Run: BMSAGG_DAEMON=build/bin/bms-aggregator BMSAGG_SIM=build/bin/bmsagg-sim /usr/bin/python3 tests/integration/test_record.py -v
"""
import glob
import os
import signal
import subprocess
import time
import unittest

import dbus

from harness import FAST_CONFIG, Bench

D = dbus.Double


def sim_binary():
    return os.environ.get('BMSAGG_SIM', os.path.join(os.path.dirname(__file__), '../../build/bin/bmsagg-sim'))


class Record(unittest.TestCase):
    def setUp(self):
        self.b = Bench()

    def tearDown(self):
        self.b.stop()

    def replay(self, *args):
        p = subprocess.run([sim_binary(), 'replay'] + list(args), capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout + p.stderr

    def test_round_trip_identical_and_compared(self):
        b = self.b
        rec = os.path.join(b.dir, 'rec.csv')
        b.start_settings()
        b.start_packs([('ttyUSB%d' % k, {'di': k + 1, 'soc': s}) for k, s in enumerate((93.0, 84.0, 82.0))])
        config = FAST_CONFIG + '\n[record]\npath = %s\ninterval_s = 0.2\n' % rec
        b.start_daemon(config)
        b.wait_value('/Info/MaxChargeCurrent', 99.0)
        # A life in a few seconds: tiers move, a spike, garbage from a pack, a pack silent, a restart.
        steps = [
            ('ttyUSB1', {'/Soc': D(92.0)}), ('ttyUSB2', {'/Soc': D(91.0)}),
            ('ttyUSB0', {'/System/MaxCellVoltage': D(3.60)}),
            ('ttyUSB0', {'/System/MaxCellVoltage': D(3.33)}),
            ('ttyUSB2', {'/Soc': D(float('nan'))}),
            ('ttyUSB2', {'/Soc': D(70.0)}),
            ('ttyUSB1', {'/Dc/0/Current': D(-40.0)}),
        ]
        for name, change in steps:
            b.pack_set(name, change)
            time.sleep(0.7)
        b.kill_pack('com.victronenergy.battery.ttyUSB1')
        time.sleep(2.5)
        self.assertEqual(b.stop_daemon(), 0, b.log()[-2000:])
        self.assertIn('recording to ' + rec, b.log())

        with open(rec) as f:
            text = f.read()
        self.assertIn('# format=1', text)
        self.assertGreater(text.count('\nO,'), 20, 'output rows recorded')
        self.assertGreater(text.count('\nP,'), 20, 'pack rows recorded')
        sides = glob.glob(rec + '.config-*.ini')
        self.assertEqual(len(sides), 1, 'the config side file')

        rc, out = self.replay(rec)
        self.assertEqual(rc, 0, out)
        self.assertIn('identical', out)

        # Another config on the same real readings: still identical to the recording, and the
        # comparison shows the stricter table's lower CCL.
        strict = b.write_config('[tiers]\ntier_spread_pct = 2, 4, 6\ntier_ccl_pct = 80, 50, 30, 10\n', 'strict.ini')
        outdir = os.path.join(b.dir, 'cmp')
        rc, out = self.replay(rec, '--config', strict, '--out', outdir)
        self.assertEqual(rc, 0, out)
        self.assertIn('alternative', out)
        lines = {l.split()[0]: l for l in out.splitlines() if l.strip().startswith(('recorded ', 'alternative '))}
        max_rec = float(lines['recorded'].split('max')[1].split('A')[0])
        max_alt = float(lines['alternative'].split('max')[1].split('A')[0])
        self.assertEqual(max_rec, 150.0, out)
        self.assertLess(max_alt, max_rec, out)
        self.assertTrue(os.path.exists(os.path.join(outdir, 'replay-alternative.csv')))

        # A changed output row is caught with its time and field.
        rows = text.split('\n')
        k = [i for i, r in enumerate(rows) if r.startswith('O,')][10]
        f = rows[k].split(',')
        f[7] = '1.5'   # the CCL
        rows[k] = ','.join(f)
        bad = os.path.join(b.dir, 'rec-tampered.csv')
        with open(bad, 'w') as fh:
            fh.write('\n'.join(rows))
        rc, out = self.replay(bad)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r'rec-tampered\.csv:%d: t=\d+ ms: ccl recorded 1\.5, replayed' % (k + 1))

        # Malformed: file:line and exit 2.
        rows[k] = 'O,garbage'
        with open(bad, 'w') as fh:
            fh.write('\n'.join(rows))
        rc, out = self.replay(bad)
        self.assertEqual(rc, 2, out)
        self.assertIn('rec-tampered.csv:%d:' % (k + 1), out)


if __name__ == '__main__':
    unittest.main()
