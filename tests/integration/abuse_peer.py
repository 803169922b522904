#!/usr/bin/python3
"""Misbehaving D-Bus peers for test_abuse.py, written at libdbus level (a message filter answers
every call by hand, so a peer can answer late, never, or with anything).

  abuse_peer.py pack  --name NAME [--di N --soc X] [--extra-paths N] [--big-mb M]
                      [--answer-first K] [--flap N --flap-period S] [--stats FILE]
      A dbus-serialbattery-like pack (mock_bms.serialbattery_paths). --extra-paths adds N more
      paths (/Voltages/Extra<k>), --big-mb M puts a 1 MB string in M text paths (so GetItems
      replies are a few MB). --answer-first K answers the first K calls and then reads but never
      answers another one (the hung-in-a-reply pack). --flap N claims and releases the name N
      times, one cycle per --flap-period seconds, and keeps it at the end. Control:
      com.victronenergy.MockBms.Set(a{sv}) on "/" (always answered), which also emits
      PropertiesChanged. --stats FILE: JSON counters rewritten every 0.2 s.
  abuse_peer.py flood --target NAME --threads T --seconds S [--stats FILE]
      T threads, each on its own connection, call GetItems, GetValue and GetText on "/" and on
      paths of NAME back to back for S seconds; prints and stores the number of calls answered,
      the errors and the slowest answer.
"""
import argparse
import json
import os
import sys
import threading
import time

import dbus
import dbus.lowlevel
import dbus.mainloop.glib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_bms import serialbattery_paths, text_of  # noqa: E402

IFACE = 'com.victronenergy.BusItem'
CTRL = 'com.victronenergy.MockBms'
HANDLED = dbus.lowlevel.HANDLER_RESULT_HANDLED
NOT_YET = dbus.lowlevel.HANDLER_RESULT_NOT_YET_HANDLED


def write_stats(path, stats):
    if not path:
        return
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(stats, f)
    os.replace(tmp, path)


def run_pack(a):
    from gi.repository import GLib
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(os.environ['DBUS_SYSTEM_BUS_ADDRESS'])
    values = serialbattery_paths({'di': a.di, 'soc': a.soc})
    for k in range(a.extra_paths):
        values['/Voltages/Extra%d' % k] = dbus.Double(3.3 + (k % 100) * 0.0001)
    big = ['/CustomName', '/Info/ChargeMode', '/Info/ChargeModeDebug', '/Mgmt/Connection',
           '/System/MinVoltageCellId', '/System/MaxVoltageCellId', '/Serial', '/ProductName']
    for k in range(min(a.big_mb, len(big))):
        values[big[k]] = dbus.String(('%d' % k) * (1 << 20))
    stats = {'calls': 0, 'answered': 0, 'unanswered': 0, 'getitems': 0, 'claims': 0, 'releases': 0,
             'owned': False}

    def reply(msg, value, sig):
        r = dbus.lowlevel.MethodReturnMessage(msg)
        if sig:
            r.append(value, signature=sig)
        bus.send_message(r)

    def on_message(conn, msg):
        if msg.get_type() != 1:   # method calls only
            return NOT_YET
        iface, member, path = msg.get_interface(), msg.get_member(), msg.get_path()
        if iface == CTRL and member == 'Set':
            changes = msg.get_args_list()[0]
            for p, v in changes.items():
                values[str(p)] = v
                s = dbus.lowlevel.SignalMessage(str(p), IFACE, 'PropertiesChanged')
                s.append({'Value': v, 'Text': text_of(v)}, signature='a{sv}')
                bus.send_message(s)
            reply(msg, None, None)
            return HANDLED
        if iface not in (IFACE, None):
            return NOT_YET
        stats['calls'] += 1
        if member == 'GetItems':
            stats['getitems'] += 1
        if a.answer_first >= 0 and stats['answered'] >= a.answer_first:
            stats['unanswered'] += 1   # read, and never answered: the caller's timeout must act
            return HANDLED
        stats['answered'] += 1
        if member == 'GetItems' and path == '/':
            reply(msg, dbus.Dictionary({p: dbus.Dictionary({'Value': v, 'Text': dbus.String(text_of(v))},
                                                           signature='sv') for p, v in values.items()},
                                       signature='sa{sv}'), 'a{sa{sv}}')
        elif member == 'GetValue' and path == '/':
            reply(msg, dbus.Dictionary({p[1:]: v for p, v in values.items()}, signature='sv'), 'v')
        elif member == 'GetValue' and path in values:
            reply(msg, values[path], 'v')
        elif member == 'GetText' and path in values:
            reply(msg, text_of(values[path]), 's')
        else:
            bus.send_message(dbus.lowlevel.ErrorMessage(msg, 'org.freedesktop.DBus.Error.UnknownMethod',
                                                        'no such path'))
        return HANDLED

    bus.add_message_filter(on_message)

    def claim():
        rc = bus.request_name(a.name, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        stats['claims'] += 1
        stats['owned'] = rc in (dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER, dbus.bus.REQUEST_NAME_REPLY_ALREADY_OWNER)

    claim()
    if a.flap > 0:
        half = max(1, int(a.flap_period * 500))

        def flap():
            if stats['owned']:
                bus.release_name(a.name)
                stats['releases'] += 1
                stats['owned'] = False
                return True
            claim()
            return stats['releases'] < a.flap   # keep the name after the last cycle
        GLib.timeout_add(half, flap)

    def dump():
        write_stats(a.stats, stats)
        return True
    GLib.timeout_add(200, dump)
    dump()
    GLib.MainLoop().run()


def run_flood(a):
    addr = os.environ['DBUS_SYSTEM_BUS_ADDRESS']
    paths = ['/Soc', '/Info/MaxChargeCurrent', '/Info', '/', '/Dc/0/Voltage', '/Packs/0/Soc', '/No/Such/Path']
    totals = {'calls': 0, 'errors': 0, 'worst_s': 0.0, 'threads': a.threads}
    lock = threading.Lock()
    end = time.monotonic() + a.seconds

    def worker(k):
        bus = dbus.bus.BusConnection(addr)
        n = err = 0
        worst = 0.0
        while time.monotonic() < end:
            i = n % 4
            path = paths[(n // 4) % len(paths)]
            t = time.monotonic()
            try:
                if i == 0:
                    bus.call_blocking(a.target, '/', IFACE, 'GetItems', '', (), timeout=5)
                elif i == 1:
                    bus.call_blocking(a.target, path, IFACE, 'GetValue', '', (), timeout=5)
                elif i == 2:
                    bus.call_blocking(a.target, path, IFACE, 'GetText', '', (), timeout=5)
                else:
                    bus.call_blocking(a.target, '/', IFACE, 'GetValue', '', (), timeout=5)
            except dbus.exceptions.DBusException:
                err += 1   # /No/Such/Path answers an error: that is an answer too
            worst = max(worst, time.monotonic() - t)
            n += 1
        bus.close()
        with lock:
            totals['calls'] += n
            totals['errors'] += err
            totals['worst_s'] = max(totals['worst_s'], worst)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    write_stats(a.stats, totals)
    print(json.dumps(totals))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest='mode', required=True)
    p = sub.add_parser('pack')
    p.add_argument('--name', required=True)
    p.add_argument('--di', type=int, default=9)
    p.add_argument('--soc', type=float, default=80.0)
    p.add_argument('--extra-paths', type=int, default=0)
    p.add_argument('--big-mb', type=int, default=0)
    p.add_argument('--answer-first', type=int, default=-1)
    p.add_argument('--flap', type=int, default=0)
    p.add_argument('--flap-period', type=float, default=0.1)
    p.add_argument('--stats', default='')
    f = sub.add_parser('flood')
    f.add_argument('--target', required=True)
    f.add_argument('--threads', type=int, default=2)
    f.add_argument('--seconds', type=float, default=4.0)
    f.add_argument('--stats', default='')
    a = ap.parse_args()
    if a.mode == 'pack':
        run_pack(a)
    else:
        run_flood(a)


if __name__ == '__main__':
    main()
