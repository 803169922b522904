#!/usr/bin/python3
"""A python-dbusmock mock of one dbus-serialbattery pack: the same BusItem paths and wire shapes.

Run as a program it owns NAME on the system bus (DBUS_SYSTEM_BUS_ADDRESS) and loads itself as a
dbusmock template. Tests steer it through the extra interface com.victronenergy.MockBms on "/":
  Set(a{sv})           change values and emit the change signals (see SetSignalMode)
  SetQuiet(a{sv})      change values silently (only GetItems / GetValue show them)
  SetSignalMode(s)     "props" (PropertiesChanged per path, default), "items" (one ItemsChanged),
                       "both", or "none"
  Counts() -> a{si}    how often GetItems and the root GetValue were called
Parameters no_getitems / no_root_value make the service answer those two with UnknownMethod, as a
service that does not implement them does (VENUS-DBUS.md 2.2: a reader falls back to the root
GetValue, then to GetValue per path).
Values keep their D-Bus type: dbus.String('x') in /Soc is published as a string, dbus.Array([],
signature='i') is the invalid value.
"""
import argparse
import json
import os
import sys

import dbus
import dbus.lowlevel
import dbus.mainloop.glib
import dbus.service

IFACE = 'com.victronenergy.BusItem'
CTRL = 'com.victronenergy.MockBms'
BUS_NAME = 'com.victronenergy.battery.mock'   # dbusmock wants one; the launcher picks the real name
MAIN_OBJ = '/'
MAIN_IFACE = IFACE
SYSTEM_BUS = True

ALARMS = ['LowVoltage', 'HighVoltage', 'LowCellVoltage', 'HighCellVoltage', 'LowSoc', 'HighChargeCurrent',
          'HighDischargeCurrent', 'HighCurrent', 'CellImbalance', 'HighChargeTemperature',
          'LowChargeTemperature', 'HighTemperature', 'LowTemperature', 'InternalFailure', 'BmsCable']


def serialbattery_paths(p):
    """The paths dbus-serialbattery publishes (dbushelper.py), with plausible LFP 16S values."""
    di = int(p.get('di', 1))
    cells = int(p.get('cells', 16))
    soc = float(p.get('soc', 80.0))
    delta = float(p.get('cell_delta', 0.01))
    vmin = 3.30
    v = {
        '/Mgmt/ProcessName': dbus.String('dbus-serialbattery.py'),
        '/Mgmt/ProcessVersion': dbus.String('1.0-mock'),
        '/Mgmt/Connection': dbus.String('Serial /dev/ttyUSB%d' % di),
        '/DeviceInstance': dbus.Int32(di),
        '/ProductId': dbus.Int32(int(p.get('product_id', 0xBA77))),
        '/ProductName': dbus.String('SerialBattery(Mock)'),
        '/FirmwareVersion': dbus.String('1.0'),
        '/HardwareVersion': dbus.String('mock'),
        '/Connected': dbus.Int32(1),
        '/CustomName': dbus.String('Pack %d' % di),
        '/Serial': dbus.String(str(p.get('serial', 'MOCK%04d' % di))),
        '/Soc': dbus.Double(soc),
        '/Soh': dbus.Double(100.0),
        '/Dc/0/Voltage': dbus.Double(round(cells * (vmin + delta / 2), 3)),
        '/Dc/0/Current': dbus.Double(0.0),
        '/Dc/0/Power': dbus.Double(0.0),
        '/Dc/0/Temperature': dbus.Double(25.0),
        '/Dc/0/MidVoltage': dbus.Array([], signature='i'),
        '/Capacity': dbus.Double(280.0 * soc / 100.0),
        '/InstalledCapacity': dbus.Double(float(p.get('capacity', 280.0))),
        '/ConsumedAmphours': dbus.Double(-280.0 * (100.0 - soc) / 100.0),
        '/TimeToGo': dbus.Array([], signature='i'),
        '/Info/MaxChargeVoltage': dbus.Double(55.2),
        '/Info/MaxChargeCurrent': dbus.Double(float(p.get('ccl', 200.0))),
        '/Info/MaxDischargeCurrent': dbus.Double(float(p.get('dcl', 200.0))),
        '/Info/BatteryLowVoltage': dbus.Double(44.8),
        '/Info/ChargeMode': dbus.String('Bulk'),
        '/Info/ChargeLimitation': dbus.String(''),
        '/Info/DischargeLimitation': dbus.String(''),
        '/Info/ChargeModeDebug': dbus.String(''),
        '/System/MinCellVoltage': dbus.Double(vmin),
        '/System/MaxCellVoltage': dbus.Double(round(vmin + delta, 3)),
        '/System/MinVoltageCellId': dbus.String('C3'),
        '/System/MaxVoltageCellId': dbus.String('C7'),
        '/System/MinCellTemperature': dbus.Double(24.0),
        '/System/MaxCellTemperature': dbus.Double(26.0),
        '/System/NrOfCellsPerBattery': dbus.Int32(cells),
        '/System/NrOfModulesOnline': dbus.Int32(1),
        '/System/NrOfModulesOffline': dbus.Int32(0),
        '/System/NrOfModulesBlockingCharge': dbus.Int32(0),
        '/System/NrOfModulesBlockingDischarge': dbus.Int32(0),
        '/Io/AllowToCharge': dbus.Int32(1),
        '/Io/AllowToDischarge': dbus.Int32(1),
        '/Io/AllowToBalance': dbus.Int32(1),
        '/Voltages/Sum': dbus.Double(round(cells * (vmin + delta / 2), 3)),
        '/Voltages/Diff': dbus.Double(delta),
    }
    if p.get('nocvl'):
        v['/Info/MaxChargeVoltage'] = dbus.Array([], signature='i')
    for a in ALARMS:
        v['/Alarms/' + a] = dbus.Int32(0)
    for c in range(1, cells + 1):
        cv = vmin if c == 3 else (vmin + delta if c == 7 else vmin + delta / 2)
        v['/Voltages/Cell%d' % c] = dbus.Double(round(cv, 4))
        v['/Balances/Cell%d' % c] = dbus.Int32(0)
    return v


def text_of(value):
    if isinstance(value, dbus.Array) and len(value) == 0:
        return '---'
    return str(value)


def load(mock, parameters):
    """dbusmock template entry point: one object per path, GetItems on the root, control methods."""
    values = serialbattery_paths(parameters)
    state = {'mode': str(parameters.get('signal_mode', 'props')), 'tick': 0}
    counts = {'GetItems': 0, 'GetValue /': 0}
    conn = mock.connection

    def emit(changes):
        mode = state['mode']
        if mode in ('props', 'both'):
            for path, val in changes.items():
                m = dbus.lowlevel.SignalMessage(path, IFACE, 'PropertiesChanged')
                m.append({'Value': val, 'Text': text_of(val)}, signature='a{sv}')
                conn.send_message(m)
        if mode in ('items', 'both'):
            m = dbus.lowlevel.SignalMessage('/', IFACE, 'ItemsChanged')
            m.append({p: {'Value': v, 'Text': text_of(v)} for p, v in changes.items()}, signature='a{sa{sv}}')
            conn.send_message(m)

    def add_path(path):
        def get_value(self):
            return values[path]

        def get_text(self):
            return text_of(values[path])

        def set_value(self, v):
            values[path] = v
            emit({path: v})
            return dbus.Int32(0)

        mock.AddObject(path, IFACE, {}, [('GetValue', '', 'v', get_value), ('GetText', '', 's', get_text),
                                         ('SetValue', 'v', 'i', set_value)])

    for path in values:
        add_path(path)

    def missing(name):
        return dbus.exceptions.DBusException('No method %s on /' % name,
                                             name='org.freedesktop.DBus.Error.UnknownMethod')

    def get_items(self):
        counts['GetItems'] += 1
        if parameters.get('no_getitems'):
            raise missing('GetItems')
        return dbus.Dictionary({p: dbus.Dictionary({'Value': v, 'Text': dbus.String(text_of(v))}, signature='sv')
                                for p, v in values.items()}, signature='sa{sv}')

    def root_value(self):
        counts['GetValue /'] += 1
        if parameters.get('no_root_value'):
            raise missing('GetValue')
        return dbus.Dictionary({p[1:]: v for p, v in values.items()}, signature='sv')

    def root_text(self):
        if parameters.get('no_root_value'):
            raise missing('GetText')
        return dbus.Dictionary({p[1:]: text_of(v) for p, v in values.items()}, signature='ss', variant_level=1)

    def ctl_set(self, changes):
        new = {}
        for p, v in changes.items():
            p = str(p)
            if p not in values:
                add_path(p)
            values[p] = v
            new[p] = v
        emit(new)

    def ctl_set_quiet(self, changes):
        for p, v in changes.items():
            values[str(p)] = v

    def ctl_mode(self, mode):
        state['mode'] = str(mode)

    def ctl_counts(self):
        return dbus.Dictionary(counts, signature='si')

    mock.AddMethod(IFACE, 'GetItems', '', 'a{sa{sv}}', get_items)
    mock.AddMethod(IFACE, 'GetValue', '', 'v', root_value)
    mock.AddMethod(IFACE, 'GetText', '', 'v', root_text)
    mock.AddMethod(CTRL, 'Set', 'a{sv}', '', ctl_set)
    mock.AddMethod(CTRL, 'SetQuiet', 'a{sv}', '', ctl_set_quiet)
    mock.AddMethod(CTRL, 'SetSignalMode', 's', '', ctl_mode)
    mock.AddMethod(CTRL, 'Counts', '', 'a{si}', ctl_counts)

    period = float(parameters.get('auto_update_s', 0))
    if period > 0:
        from gi.repository import GLib
        numeric = [p for p, v in values.items() if isinstance(v, dbus.Double)
                   and not p.startswith('/Info/') and p not in ('/InstalledCapacity', '/Soh')]

        def tick():
            # Every value changes every period (the benchmark's worst case): a sawtooth of nine
            # +0.1 % steps and one step back down, so that a reader sampling at any interval
            # that is not a multiple of ten periods sees every value move at every sample. (A
            # period-4 triangle looked the same to a reader sampling every other period: it saw
            # nothing change, or everything, depending on its phase.)
            state['tick'] += 1
            steps = 1 if state['tick'] % 10 else -9
            changes = {}
            for p in numeric:
                old = float(values[p])
                values[p] = dbus.Double(old + steps * max(abs(old) * 0.001, 0.001))
                changes[p] = values[p]
            emit(changes)
            return True
        GLib.timeout_add(int(period * 1000), tick)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--name', required=True)
    ap.add_argument('--params', default='{}', help='JSON: di, soc, cell_delta, cells, capacity, ccl, dcl, '
                    'serial, product_id, nocvl, signal_mode, auto_update_s, no_getitems, no_root_value')
    args = ap.parse_args()
    from gi.repository import GLib
    import dbusmock.mockobject
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()   # honours DBUS_SYSTEM_BUS_ADDRESS
    # Paths first, name last (velib's order): a reader never sees a half-built service.
    root = dbusmock.mockobject.DBusMockObject(bus, '/', IFACE, {}, os.devnull)
    root.AddTemplate(os.path.abspath(__file__), json.loads(args.params))
    name = dbus.service.BusName(args.name, bus, do_not_queue=True)
    sys.stdout.flush()
    try:
        GLib.MainLoop().run()
    finally:
        del name


if __name__ == '__main__':
    main()
