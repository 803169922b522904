#!/usr/bin/python3
"""A minimal dbus-serialbattery-like battery service on the system bus, for the armhf smoke test.

Implements com.victronenergy.BusItem the way velib_python does: GetValue/GetText/SetValue on every path object,
GetItems and GetValue on the root, ItemsChanged and PropertiesChanged signals. Values are fixed; the smoke test only
needs the daemon to find two packs and aggregate them. Honours DBUS_SYSTEM_BUS_ADDRESS (a private bus).
"""
import argparse
import signal
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = "com.victronenergy.BusItem"


def wrap(v):
    """Python value -> D-Bus value with the types velib uses (an empty ai array for invalid)."""
    if v is None:
        return dbus.Array([], signature="i")
    if isinstance(v, bool):
        return dbus.Int32(int(v))
    if isinstance(v, int):
        return dbus.Int32(v)
    if isinstance(v, float):
        return dbus.Double(v)
    return dbus.String(v)


class Item(dbus.service.Object):
    def __init__(self, bus, path, value):
        super().__init__(bus, path)
        self.value = value

    @dbus.service.method(IFACE, out_signature="v")
    def GetValue(self):
        return wrap(self.value)

    @dbus.service.method(IFACE, out_signature="v")
    def GetText(self):
        return dbus.String("" if self.value is None else str(self.value))

    @dbus.service.method(IFACE, in_signature="v", out_signature="i")
    def SetValue(self, v):
        return 1  # read-only, like a BMS driver's measured values

    @dbus.service.signal(IFACE, signature="a{sv}")
    def PropertiesChanged(self, changes):
        pass


class Root(dbus.service.Object):
    def __init__(self, bus, items):
        super().__init__(bus, "/")
        self.items = items

    @dbus.service.method(IFACE, out_signature="a{sv}")
    def GetItems(self):
        return {p: dbus.Dictionary({"Value": wrap(v), "Text": dbus.String("" if v is None else str(v))},
                                   signature="sv")
                for p, v in self.items.items()}

    @dbus.service.method(IFACE, out_signature="v")
    def GetValue(self):
        return dbus.Dictionary({p.lstrip("/"): wrap(v) for p, v in self.items.items()}, signature="sv")

    @dbus.service.method(IFACE, out_signature="v")
    def GetText(self):
        return dbus.Dictionary({p.lstrip("/"): dbus.String(str(v)) for p, v in self.items.items()}, signature="sv")

    @dbus.service.signal(IFACE, signature="a{sa{sv}}")
    def ItemsChanged(self, changes):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="bus name, e.g. com.victronenergy.battery.ttyUSB0")
    ap.add_argument("--instance", type=int, required=True, help="/DeviceInstance")
    ap.add_argument("--soc", type=float, required=True, help="/Soc in percent")
    a = ap.parse_args()

    items = {
        "/Mgmt/ProcessName": "mock_pack.py", "/Mgmt/ProcessVersion": "1.0", "/Mgmt/Connection": "mock",
        "/DeviceInstance": a.instance, "/ProductId": 0xBA77, "/ProductName": "SerialBattery(mock)",
        "/CustomName": "mock %d" % a.instance, "/FirmwareVersion": "1.0", "/HardwareVersion": "mock",
        "/Connected": 1, "/Serial": "MOCK%04d" % a.instance,
        "/Soc": a.soc, "/Dc/0/Voltage": 53.2, "/Dc/0/Current": 0.0, "/Dc/0/Power": 0.0, "/Dc/0/Temperature": 20.0,
        "/InstalledCapacity": 280.0, "/Capacity": 280.0 * a.soc / 100.0, "/ConsumedAmphours": 0.0,
        "/Info/MaxChargeVoltage": 55.2, "/Info/MaxChargeCurrent": 200.0, "/Info/MaxDischargeCurrent": 200.0,
        "/Info/BatteryLowVoltage": 44.8,
        "/System/MinCellVoltage": 3.320, "/System/MaxCellVoltage": 3.330,
        "/System/MinVoltageCellId": "C3", "/System/MaxVoltageCellId": "C7",
        "/Io/AllowToCharge": 1, "/Io/AllowToDischarge": 1,
        "/Alarms/LowVoltage": 0, "/Alarms/HighVoltage": 0, "/Alarms/CellImbalance": 0,
        "/Alarms/HighChargeCurrent": 0, "/Alarms/HighDischargeCurrent": 0, "/Alarms/LowSoc": 0,
        "/Alarms/HighTemperature": 0, "/Alarms/LowTemperature": 0,
    }
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    keep = [Item(bus, p, v) for p, v in items.items()]
    root = Root(bus, items)
    # Like velib: every path exists before the name is claimed.
    name = dbus.service.BusName(a.name, bus, do_not_queue=True)
    loop = GLib.MainLoop()

    def tick():
        # One ItemsChanged a second, as a live BMS driver sends (the values stay the same).
        root.ItemsChanged({p: {"Value": wrap(v), "Text": str(v)} for p, v in items.items() if p.startswith("/Dc/")})
        return True
    GLib.timeout_add(1000, tick)
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    loop.run()
    del keep, name
    return 0


if __name__ == "__main__":
    sys.exit(main())
