#!/usr/bin/python3
"""A python-dbusmock mock of com.victronenergy.settings with localsettings' AddSettings semantics
for ClassAndVrmInstance: the preferred instance, or the next free one in the class; an existing
record is returned unchanged (stable across restarts). --store FILE keeps records between runs."""
import argparse
import json
import os

import dbus
import dbus.mainloop.glib
import dbus.service

BUS_NAME = 'com.victronenergy.settings'
MAIN_OBJ = '/'
MAIN_IFACE = 'com.victronenergy.Settings'
SYSTEM_BUS = True


def load(mock, parameters):
    store = str(parameters.get('store', ''))
    records = {}
    if store and os.path.exists(store):
        with open(store) as f:
            records = json.load(f)
    taken = {str(v) for v in parameters.get('taken', [])}

    def add_settings(self, reqs):
        out = []
        for r in reqs:
            path = str(r.get('path', ''))
            default = str(r.get('default', ''))
            if not path.endswith('/ClassAndVrmInstance') or ':' not in default:
                out.append({'error': dbus.Int32(-1), 'path': path})
                continue
            if path not in records:
                cls, pref = default.split(':', 1)
                used = {v for v in records.values()} | taken
                n = int(pref)
                while '%s:%d' % (cls, n) in used:
                    n += 1
                records[path] = '%s:%d' % (cls, n)
                if store:
                    with open(store, 'w') as f:
                        json.dump(records, f)
            out.append({'error': dbus.Int32(0), 'path': path, 'value': dbus.String(records[path])})
        return dbus.Array([dbus.Dictionary(d, signature='sv') for d in out], signature='a{sv}')

    mock.AddMethod(MAIN_IFACE, 'AddSettings', 'aa{sv}', 'aa{sv}', add_settings)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--params', default='{}')
    args = ap.parse_args()
    from gi.repository import GLib
    import dbusmock.mockobject
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    root = dbusmock.mockobject.DBusMockObject(bus, '/', MAIN_IFACE, {}, os.devnull)
    root.AddTemplate(os.path.abspath(__file__), json.loads(args.params))
    name = dbus.service.BusName(BUS_NAME, bus, do_not_queue=True)
    try:
        GLib.MainLoop().run()
    finally:
        del name


if __name__ == '__main__':
    main()
