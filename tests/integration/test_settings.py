#!/usr/bin/python3
"""/CustomName persisted in com.victronenergy.settings (localsettings), end to end: a private system
bus, the mock settings service (mock_settings.py: values per path, PropertiesChanged on change),
mock packs and the daemon (under ASan+UBSan in the sanitizer build).

Run: BMSAGG_DAEMON=build/bin/bms-aggregator /usr/bin/python3 tests/integration/test_settings.py [-v] [Class]
"""
import os
import signal
import time
import unittest

import dbus

from harness import AGG, FAST_CONFIG, BenchTest

SETTINGS = 'com.victronenergy.settings'
# The daemon's settings entries are named by its service-name suffix (ClassAndVrmInstance's too).
NAME_PATH = '/Settings/Devices/bms_aggregator/CustomName'
INSTANCE_PATH = '/Settings/Devices/bms_aggregator/ClassAndVrmInstance'
CONFIG = FAST_CONFIG.replace('[dbus]', '[dbus]\ncustom_name = Config bank')
ABSENT_NOTE = 'absent: /CustomName is kept in memory until it appears'


def S(text):
    return (dbus.String(text),)


class SettingsTest(BenchTest):
    def setUp(self):
        super().setUp()
        self.store = os.path.join(self.b.dir, 'settings.json')

    def packs(self):
        self.b.start_packs([('ttyUSB%d' % k, {'di': k + 1, 'soc': 80.0}) for k in range(2)])

    def setting(self):
        return self.b.get(NAME_PATH, service=SETTINGS)

    def write(self, name):
        return self.b.call(AGG, '/CustomName', 'SetValue', 'v', S(name))

    def restart_daemon(self, config=CONFIG):
        b = self.b
        self.assertEqual(b.stop_daemon(), 0, b.log()[-3000:])
        b.wait_for(lambda: not b.has_owner(AGG), what='name released')
        b.start_daemon(config)


class CustomName(SettingsTest):
    """The settings service is there: the setting is created, written, read back and followed."""

    def test_write_stored_and_back_after_restart(self):
        b = self.b
        b.start_settings(store=self.store)
        self.packs()
        b.start_daemon(CONFIG)
        # A new setting is empty (default ""): the config's name is shown, nothing is stored.
        self.assertEqual(b.get('/CustomName'), 'Config bank')
        b.wait_value(NAME_PATH, '', service=SETTINGS)
        # (a) A write on our /CustomName is shown at once and stored in the setting.
        self.assertEqual(self.write('House bank'), 0)
        self.assertEqual(b.get('/CustomName'), 'House bank')
        b.wait_value(NAME_PATH, 'House bank', service=SETTINGS)
        # Rewriting the same name is accepted and changes nothing.
        self.assertEqual(self.write('House bank'), 0)
        # Refused writes never reach the setting.
        self.assertEqual(self.write('x' * 200), 2)
        self.assertEqual(b.call(AGG, '/CustomName', 'SetValue', 'v', (dbus.Int32(7),)), 1)
        time.sleep(0.5)
        self.assertEqual(self.setting(), 'House bank')
        self.assertEqual(b.get('/CustomName'), 'House bank')
        # The instance came from the same AddSettings call and is still there beside the name.
        self.assertEqual(b.get(INSTANCE_PATH, service=SETTINGS), 'battery:280')
        self.assertEqual(b.get('/DeviceInstance'), 280)

        # (b) Restarted, the stored name is there from the first moment the service is on the bus
        # (the paths are created after the settings reply), never the config's name first.
        self.restart_daemon()
        self.assertEqual(b.get('/CustomName'), 'House bank')
        self.assertEqual(b.get('/DeviceInstance'), 280)
        self.assertIn('CustomName "House bank" from ' + SETTINGS, b.log())

        # A reload with another config name: a name set on the bus outranks the config's.
        b.write_config(CONFIG.replace('Config bank', 'Reloaded bank'))
        b.daemon.send_signal(signal.SIGHUP)
        b.wait_for(lambda: 'config reloaded' in b.log(), what='reload logged')
        time.sleep(0.5)
        self.assertEqual(b.get('/CustomName'), 'House bank')
        # Clearing the name (empty string) stores "" and shows the config's name again.
        self.assertEqual(self.write(''), 0)
        self.assertEqual(b.get('/CustomName'), 'Reloaded bank')
        b.wait_value(NAME_PATH, '', service=SETTINGS)
        self.assertNotIn(ABSENT_NOTE, b.log())

        # Restarting the settings service itself (localsettings' file keeps the values).
        self.assertEqual(self.write('Stored bank'), 0)
        b.wait_value(NAME_PATH, 'Stored bank', service=SETTINGS)
        b.settings.terminate()
        b.settings.wait()
        b.wait_for(lambda: not b.has_owner(SETTINGS), what='settings gone')
        b.start_settings(store=self.store)
        self.restart_daemon()
        self.assertEqual(b.get('/CustomName'), 'Stored bank')

    def test_setting_changed_directly_is_followed(self):
        b = self.b
        b.start_settings()
        self.packs()
        b.start_daemon(CONFIG)
        b.wait_value(NAME_PATH, '', service=SETTINGS)
        # (c) The GUI (or anyone) writes the setting: our /CustomName follows within a tick or two.
        self.assertEqual(b.call(SETTINGS, NAME_PATH, 'SetValue', 'v', S('Garage bank')), 0)
        b.wait_value('/CustomName', 'Garage bank', timeout=5)
        self.assertEqual(self.setting(), 'Garage bank')
        # Emptied directly: back to the config's name.
        self.assertEqual(b.call(SETTINGS, NAME_PATH, 'SetValue', 'v', S('')), 0)
        b.wait_value('/CustomName', 'Config bank', timeout=5)
        # And then written through us again: stored, and the echo does not undo it.
        self.assertEqual(self.write('Shed bank'), 0)
        b.wait_value(NAME_PATH, 'Shed bank', service=SETTINGS)
        time.sleep(0.5)
        self.assertEqual(b.get('/CustomName'), 'Shed bank')
        # A name longer than we accept, written straight into the setting: ignored and logged.
        self.assertEqual(b.call(SETTINGS, NAME_PATH, 'SetValue', 'v', S('y' * 300)), 0)
        b.wait_for(lambda: 'ignoring a 300-byte name' in b.log(), what='long name logged')
        self.assertEqual(b.get('/CustomName'), 'Shed bank')
        self.assertIsNone(b.daemon.poll())

    def test_burst_of_writes_ends_with_the_last(self):
        """Writes faster than the settings service answers coalesce (one SetValue in flight); the
        setting and /CustomName both end with the last one."""
        b = self.b
        b.start_settings()
        self.packs()
        b.start_daemon(CONFIG)
        b.wait_value(NAME_PATH, '', service=SETTINGS)
        for k in range(50):
            self.assertEqual(self.write('Bank %d' % k), 0)
        self.assertEqual(b.get('/CustomName'), 'Bank 49')
        b.wait_value(NAME_PATH, 'Bank 49', service=SETTINGS)
        time.sleep(0.5)   # any late echo of an older name has arrived by now
        self.assertEqual(b.get('/CustomName'), 'Bank 49')
        self.assertEqual(self.setting(), 'Bank 49')


class CustomNameAbsent(SettingsTest):
    """No settings service: /CustomName works in memory, said once in the log, stored when it appears."""

    def test_in_memory_then_stored_when_settings_appear(self):
        b = self.b
        self.packs()
        b.start_daemon(CONFIG)
        b.wait_value('/DeviceInstance', 280)
        b.wait_for(lambda: ABSENT_NOTE in b.log(), what='absence noted')
        # (d) Writes work and are readable.
        self.assertEqual(b.get('/CustomName'), 'Config bank')
        self.assertEqual(self.write('Shed bank'), 0)
        self.assertEqual(b.get('/CustomName'), 'Shed bank')
        self.assertEqual(self.write('Barn bank'), 0)
        self.assertEqual(b.get('/CustomName'), 'Barn bank')
        time.sleep(0.5)
        self.assertEqual(b.get('/CustomName'), 'Barn bank')
        self.assertEqual(b.log().count(ABSENT_NOTE), 1, b.log())
        # The settings service appears: the name written meanwhile is stored, not replaced by the
        # new setting's empty value; the fallback DeviceInstance stays (a service never changes it).
        b.start_settings(store=self.store, taken=['battery:280'])
        b.wait_value(NAME_PATH, 'Barn bank', service=SETTINGS)
        self.assertEqual(b.get('/CustomName'), 'Barn bank')
        self.assertEqual(b.get('/DeviceInstance'), 280)
        # From now on it is followed like any setting.
        self.assertEqual(b.call(SETTINGS, NAME_PATH, 'SetValue', 'v', S('Loft bank')), 0)
        b.wait_value('/CustomName', 'Loft bank', timeout=5)
        # It goes away again: writes are kept and stored when it is back (say localsettings restarted).
        b.settings.terminate()
        b.settings.wait()
        b.wait_for(lambda: not b.has_owner(SETTINGS), what='settings gone')
        self.assertEqual(self.write('Attic bank'), 0)
        self.assertEqual(b.get('/CustomName'), 'Attic bank')
        b.start_settings(store=self.store)
        b.wait_value(NAME_PATH, 'Attic bank', service=SETTINGS)
        self.assertEqual(b.get('/CustomName'), 'Attic bank')
        self.assertIsNone(b.daemon.poll())

    def test_without_settings_a_restart_forgets(self):
        """What persisting buys: without the settings service the name lives only as long as the
        process, and the config's name is back after a restart."""
        b = self.b
        self.packs()
        b.start_daemon(CONFIG)
        self.assertEqual(self.write('Shed bank'), 0)
        self.assertEqual(b.get('/CustomName'), 'Shed bank')
        self.restart_daemon()
        self.assertEqual(b.get('/CustomName'), 'Config bank')


if __name__ == '__main__':
    unittest.main()
