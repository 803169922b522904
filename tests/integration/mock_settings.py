#!/usr/bin/python3
"""A python-dbusmock mock of com.victronenergy.settings with localsettings' semantics for what the
daemon uses:

  AddSettings(aa{sv}) on "/": each request {"path", "default"}; the type follows the default
    (int -> i, double -> f, string -> s); the path must lie under /Settings/. A new setting takes
    its default, an existing one keeps its value (a different type is error -5). Reply per request
    {"error": i, "path": s, "value": v}.
  ClassAndVrmInstance: the requested "<class>:<n>", or the next free n in the class; an existing
    record is returned unchanged (stable across restarts).
  Every setting is an object at its path with GetValue, GetText, SetValue (0 = OK, -1 = refused:
    a value that does not convert to the setting's type) and PropertiesChanged {"Value", "Text"}
    emitted when a value actually changes (SetValue or creation), as localsettings does.

Parameters (--params JSON): store = FILE keeps every setting between runs of the mock; taken =
["battery:280", ...] are instances another device holds."""
import argparse
import json
import os

import dbus
import dbus.lowlevel
import dbus.mainloop.glib
import dbus.service

BUS_NAME = 'com.victronenergy.settings'
MAIN_OBJ = '/'
MAIN_IFACE = 'com.victronenergy.Settings'
ITEM_IFACE = 'com.victronenergy.BusItem'
SYSTEM_BUS = True

# localsettings' AddSettingError values.
ERR_UNKNOWN_TYPE = -3
ERR_INVALID_PATH = -4
ERR_TYPE_DIFFERS = -5
ERR_NOT_IN_SETTINGS = -9


def type_of(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):   # dbus.Int32 / Int64 are ints
        return 'i'
    if isinstance(v, float):
        return 'f'
    if isinstance(v, str):
        return 's'
    return None


def wrap(typ, v):
    return {'i': dbus.Int32, 'f': dbus.Double, 's': dbus.String}[typ](v)


def convert(typ, v):
    """localsettings' convertToType: int(), float() or str() of the written value, None if it fails."""
    if isinstance(v, dbus.Array):
        return None
    try:
        return wrap(typ, {'i': int, 'f': float, 's': str}[typ](v))
    except (TypeError, ValueError, OverflowError):
        return None


def load(mock, parameters):
    store = str(parameters.get('store', ''))
    values = {}   # path -> typed D-Bus value
    if store and os.path.exists(store):
        with open(store) as f:
            for path, v in json.load(f).items():
                values[path] = wrap(type_of(v), v)
    taken = {str(v) for v in parameters.get('taken', [])}
    conn = mock.connection

    def save():
        if store:
            with open(store, 'w') as f:
                json.dump({p: (str(v) if isinstance(v, str) else float(v) if isinstance(v, float) else int(v))
                           for p, v in values.items()}, f)

    def changed(path):
        m = dbus.lowlevel.SignalMessage(path, ITEM_IFACE, 'PropertiesChanged')
        m.append({'Value': values[path], 'Text': dbus.String(str(values[path]))}, signature='a{sv}')
        conn.send_message(m)

    def free_instance(path, wanted):
        """ClassAndVrmInstance: wanted "<class>:<n>" or the next free n in its class."""
        cls, n = wanted.split(':', 1)
        n = int(n)
        used = {str(v) for p, v in values.items() if p.endswith('/ClassAndVrmInstance') and p != path} | taken
        while '%s:%d' % (cls, n) in used:
            n += 1
        return '%s:%d' % (cls, n)

    def add_object(path):
        def get_value(self):
            return values[path]

        def get_text(self):
            return dbus.String(str(values[path]))

        def set_value(self, v):
            new = convert(type_of(values[path]), v)
            if new is None:
                return dbus.Int32(-1)
            if path.endswith('/ClassAndVrmInstance'):
                try:
                    new = dbus.String(free_instance(path, str(new)))
                except ValueError:
                    return dbus.Int32(-1)
            if new != values[path]:
                values[path] = new
                save()
                changed(path)
            return dbus.Int32(0)

        mock.AddObject(path, ITEM_IFACE, {}, [('GetValue', '', 'v', get_value), ('GetText', '', 's', get_text),
                                              ('SetValue', 'v', 'i', set_value)])

    for path in values:
        add_object(path)

    def add_settings(self, reqs):
        out = []
        for r in reqs:
            path = r.get('path')
            if not isinstance(path, dbus.String):
                out.append({'error': dbus.Int32(ERR_INVALID_PATH)})
                continue
            path = str(path)
            default = r.get('default')
            typ = type_of(default)
            if typ is None:
                out.append({'error': dbus.Int32(ERR_UNKNOWN_TYPE), 'path': dbus.String(path)})
                continue
            if not path.startswith('/Settings/'):
                out.append({'error': dbus.Int32(ERR_NOT_IN_SETTINGS), 'path': dbus.String(path)})
                continue
            if path in values:
                if type_of(values[path]) != typ:
                    out.append({'error': dbus.Int32(ERR_TYPE_DIFFERS), 'path': dbus.String(path)})
                    continue
            else:
                if path.endswith('/ClassAndVrmInstance'):
                    try:
                        values[path] = dbus.String(free_instance(path, str(default)))
                    except ValueError:
                        out.append({'error': dbus.Int32(-6), 'path': dbus.String(path)})
                        continue
                else:
                    values[path] = wrap(typ, default)
                add_object(path)
                save()
                changed(path)
            out.append({'error': dbus.Int32(0), 'path': dbus.String(path), 'value': values[path]})
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
