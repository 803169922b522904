/* The virtual battery's paths: created once, then filled from each tick's pol_output. */
#include <stdio.h>
#include <string.h>

#include "publish.h"

#ifndef BMSAGG_VERSION
#define BMSAGG_VERSION "0"
#endif

static int write_custom_name(void *ctx, bi_item *it, DBusMessageIter *v)
{
    pub_ctx *p = ctx;
    if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_STRING)
        return 1;   /* velib: a value that cannot be coerced is "not writeable" */
    const char *s;
    dbus_message_iter_get_basic(v, &s);
    if (strlen(s) >= CONF_NAME_LEN)
        return 2;
    if (p->custom_name_written)
        p->custom_name_written(p->custom_name_ctx, s);
    else
        bi_set_string(it, s);
    return 0;
}

static int write_ack(void *ctx, bi_item *it, DBusMessageIter *v)
{
    (void)it;
    pub_ctx *p = ctx;
    if (!p->cfg->pol.alarm_require_ack)
        return 1;   /* acknowledging only exists when the config asks for it */
    dbus_int32_t x;
    int t = dbus_message_iter_get_arg_type(v);
    if (t != DBUS_TYPE_INT32 && t != DBUS_TYPE_BOOLEAN)
        return 1;
    dbus_message_iter_get_basic(v, &x);
    if (x == 1)
        p->ack_requested = true;
    else if (x != 0)
        return 2;
    return 0;
}

#define ADD(field, path, unit, dec)                     \
    do {                                                \
        if (!(p->field = bi_add(bi, path, unit, dec)))  \
            return -1;                                  \
    } while (0)

static int set_str(bi_service *bi, const char *path, const char *v)
{
    bi_item *it = bi_add(bi, path, NULL, 0);
    if (!it)
        return -1;
    bi_set_string(it, v);
    return 0;
}

int pub_create(pub_ctx *p, bi_service *bi, const conf_t *cfg, pk_bank *bank, int device_instance)
{
    memset(p, 0, sizeof *p);
    p->bi = bi;
    p->cfg = cfg;
    p->bank = bank;

    /* velib's mandatory paths. */
    if (set_str(bi, "/Mgmt/ProcessName", "bms-aggregator") || set_str(bi, "/Mgmt/ProcessVersion", BMSAGG_VERSION) ||
        set_str(bi, "/Mgmt/Connection", "Virtual") || set_str(bi, "/FirmwareVersion", BMSAGG_VERSION) ||
        set_str(bi, "/HardwareVersion", "virtual"))
        return -1;
    const char *sfx = strrchr(cfg->dbus.service_name, '.');
    if (set_str(bi, "/Serial", sfx ? sfx + 1 : cfg->dbus.service_name))
        return -1;
    bi_item *it;
    if (!(it = bi_add(bi, "/DeviceInstance", NULL, 0)))
        return -1;
    bi_set_int(it, device_instance);
    if (!(it = bi_add(bi, "/ProductId", NULL, 0)))
        return -1;
    bi_set_int(it, PUB_PRODUCT_ID);
    bi_set_hex_text(it, true);
    if (!(it = bi_add(bi, "/Connected", NULL, 0)))
        return -1;
    bi_set_int(it, 1);
    ADD(product_name, "/ProductName", NULL, 0);
    bi_set_string(p->product_name, cfg->dbus.product_name);
    ADD(custom_name, "/CustomName", NULL, 0);
    bi_set_string(p->custom_name, cfg->dbus.custom_name);
    bi_set_writer(p->custom_name, write_custom_name, p);

    ADD(soc, "/Soc", "%", 1);
    ADD(voltage, "/Dc/0/Voltage", "V", 2);
    ADD(current, "/Dc/0/Current", "A", 1);
    ADD(power, "/Dc/0/Power", "W", 0);
    ADD(temp, "/Dc/0/Temperature", "\u00b0C", 1);
    ADD(capacity, "/Capacity", "Ah", 1);
    ADD(installed, "/InstalledCapacity", "Ah", 1);
    ADD(consumed, "/ConsumedAmphours", "Ah", 1);
    ADD(cvl, "/Info/MaxChargeVoltage", "V", 2);
    ADD(ccl, "/Info/MaxChargeCurrent", "A", 1);
    ADD(dcl, "/Info/MaxDischargeCurrent", "A", 1);
    ADD(blv, "/Info/BatteryLowVoltage", "V", 2);
    ADD(chg_lim, "/Info/ChargeLimitation", NULL, 0);
    ADD(dis_lim, "/Info/DischargeLimitation", NULL, 0);
    ADD(min_cell, "/System/MinCellVoltage", "V", 3);
    ADD(max_cell, "/System/MaxCellVoltage", "V", 3);
    ADD(min_cell_id, "/System/MinVoltageCellId", NULL, 0);
    ADD(max_cell_id, "/System/MaxVoltageCellId", NULL, 0);
    ADD(n_online, "/System/NrOfModulesOnline", NULL, 0);
    ADD(n_offline, "/System/NrOfModulesOffline", NULL, 0);
    ADD(n_block_c, "/System/NrOfModulesBlockingCharge", NULL, 0);
    ADD(n_block_d, "/System/NrOfModulesBlockingDischarge", NULL, 0);
    ADD(n_batteries, "/System/NrOfBatteries", NULL, 0);
    ADD(allow_c, "/Io/AllowToCharge", NULL, 0);
    ADD(allow_d, "/Io/AllowToDischarge", NULL, 0);
    for (int a = 0; a < RDG_AL_COUNT; a++) {
        char path[96];
        snprintf(path, sizeof path, "/Alarms/%s", rdg_alarm_name(a));
        if (!(p->alarm[a] = bi_add(bi, path, NULL, 0)))
            return -1;
    }
    ADD(spread, "/Aggregator/SocSpread", "%", 2);
    ADD(tier, "/Aggregator/Tier", NULL, 0);
    ADD(tier_ccl, "/Aggregator/TierChargeCurrent", "A", 1);
    ADD(spike, "/Aggregator/Spike", NULL, 0);
    ADD(min_temp, "/Aggregator/MinTemperature", "\u00b0C", 1);
    ADD(rej_readings, "/Aggregator/RejectedReadings", NULL, 0);
    ADD(rej_values, "/Aggregator/RejectedValues", NULL, 0);
    ADD(call_failures, "/Aggregator/CallFailures", NULL, 0);
    ADD(expected, "/Aggregator/PacksExpected", NULL, 0);
    ADD(ack, "/Aggregator/AcknowledgeAlarm", NULL, 0);
    bi_set_int(p->ack, 0);
    bi_set_writer(p->ack, write_ack, p);

    for (int k = 0; k < bank->n_slots; k++)
        pub_add_pack(p, k);
    return 0;
}

void pub_add_pack(pub_ctx *p, int slot)
{
    if (!p->bi || slot < 0 || slot >= POL_MAX_PACKS || p->pack[slot].state)
        return;
    char path[96];
#define PACK_ADD(field, leaf, unit, dec)                                        \
    do {                                                                       \
        snprintf(path, sizeof path, "/Packs/%d/" leaf, slot);                  \
        p->pack[slot].field = bi_add(p->bi, path, unit, dec);                  \
    } while (0)
    PACK_ADD(service, "Service", NULL, 0);
    PACK_ADD(di, "DeviceInstance", NULL, 0);
    PACK_ADD(presence, "Presence", NULL, 0);
    PACK_ADD(soc, "Soc", "%", 1);
    PACK_ADD(chg_share, "ChargeShare", NULL, 3);
    PACK_ADD(dis_share, "DischargeShare", NULL, 3);
    PACK_ADD(rej_readings, "RejectedReadings", NULL, 0);
    PACK_ADD(rej_values, "RejectedValues", NULL, 0);
    PACK_ADD(last_rej, "LastRejection", NULL, 0);
    /* State last: its being set marks the slot's paths as complete. */
    PACK_ADD(state, "State", NULL, 0);
#undef PACK_ADD
}

void pub_config_changed(pub_ctx *p, const conf_t *old_cfg)
{
    if (!p->bi)
        return;
    bi_set_string(p->product_name, p->cfg->dbus.product_name);
    if (strcmp(old_cfg->dbus.custom_name, p->cfg->dbus.custom_name) != 0)
        bi_set_string(p->custom_name, p->cfg->dbus.custom_name);
}

static void set_opt(bi_item *it, bool valid, double v)
{
    if (valid)
        bi_set_double(it, v);
    else
        bi_set_invalid(it);
}

static int pack_label(const pk_bank *b, int slot)
{
    return slot >= 0 && slot < b->n_slots && b->slot[slot].di >= 0 ? b->slot[slot].di : slot + 1;
}

static void set_cell_id(const pub_ctx *p, bi_item *it, bool valid, int pack, int cell)
{
    if (!valid || pack < 0) {
        bi_set_invalid(it);
        return;
    }
    char buf[48];
    /* "<pack DeviceInstance>:C<cell>", serialbattery's cell naming prefixed by the pack. */
    if (cell >= 0)
        snprintf(buf, sizeof buf, "%d:C%d", pack_label(p->bank, pack), cell);
    else
        snprintf(buf, sizeof buf, "%d", pack_label(p->bank, pack));
    bi_set_string(it, buf);
}

static const char *pack_state(const pk_bank *b, int slot, const pol_pack_out *po)
{
    const pk_slot *sl = &b->slot[slot];
    if (sl->gone)
        return "gone";
    if (po->rejected_now)
        return "rejected";
    switch (po->state) {
    case POL_PACK_ONLINE: return sl->svc >= 0 ? "online" : "online (absent)";
    case POL_PACK_OFFLINE: return "stale";
    default: return "unseen";
    }
}

void pub_update(pub_ctx *p, const pol_output *o, int n_slots)
{
    if (!p->bi)
        return;
    set_opt(p->soc, o->soc_valid, o->soc_pct);
    set_opt(p->voltage, o->voltage_valid, o->voltage_v);
    set_opt(p->current, o->current_valid, o->current_a);
    set_opt(p->power, o->power_valid, o->power_w);
    set_opt(p->temp, o->temp_valid, o->temp_max_c);
    set_opt(p->min_temp, o->temp_valid, o->temp_min_c);
    set_opt(p->capacity, o->capacity_valid, o->capacity_ah);
    set_opt(p->installed, o->installed_valid, o->installed_cap_ah);
    set_opt(p->consumed, o->consumed_valid, o->consumed_ah);
    /* The limits are always valid: an invalid CVL would make us "not a BMS" (BMS lost). */
    bi_set_double(p->cvl, o->cvl_v);
    bi_set_double(p->ccl, o->ccl_a);
    bi_set_double(p->dcl, o->dcl_a);
    bi_set_double(p->blv, o->battery_low_v);
    bi_set_string(p->chg_lim, o->reason);
    bi_set_string(p->dis_lim, pol_limiter_name(o->dcl_limiter));
    set_opt(p->min_cell, o->cells_valid, o->min_cell_v);
    set_opt(p->max_cell, o->cells_valid, o->max_cell_v);
    set_cell_id(p, p->min_cell_id, o->cells_valid, o->min_cell_pack, o->min_cell_id);
    set_cell_id(p, p->max_cell_id, o->cells_valid, o->max_cell_pack, o->max_cell_id);
    bi_set_int(p->n_online, o->n_online);
    bi_set_int(p->n_offline, o->n_offline);
    bi_set_int(p->n_block_c, o->n_blocking_charge);
    bi_set_int(p->n_block_d, o->n_blocking_discharge);
    bi_set_int(p->n_batteries, o->n_expected);
    bi_set_int(p->allow_c, o->allow_charge ? 1 : 0);
    bi_set_int(p->allow_d, o->allow_discharge ? 1 : 0);
    for (int a = 0; a < RDG_AL_COUNT; a++) {
        /* The core's own alarms are always 0/1/2 (gui-v2 hides invalid alarms). Pack alarms are
         * published only when forwarded; otherwise each pack's own service raises them. */
        bool own = a == RDG_AL_CELL_IMBALANCE || a == RDG_AL_BMS_CABLE;
        if (own || p->cfg->pol.forward_pack_alarms)
            bi_set_int(p->alarm[a], o->alarm[a]);
        else
            bi_set_invalid(p->alarm[a]);
    }
    set_opt(p->spread, o->spread_valid, o->spread_pct);
    bi_set_int(p->tier, o->tier);
    bi_set_double(p->tier_ccl, o->tier_ccl_a);
    bi_set_int(p->spike, o->spike ? 1 : 0);
    bi_set_int(p->rej_readings, (int32_t)o->rejected_total);
    bi_set_int(p->rej_values, (int32_t)p->bank->rejected_values_total);
    bi_set_int(p->call_failures, (int32_t)p->bank->call_failures_total);
    bi_set_int(p->expected, o->n_expected);
    bi_set_int(p->ack, 0);

    for (int k = 0; k < n_slots && k < POL_MAX_PACKS; k++) {
        if (!p->pack[k].state)
            pub_add_pack(p, k);
        if (!p->pack[k].state)
            continue;
        const pk_slot *sl = &p->bank->slot[k];
        const pol_pack_out *po = &o->pack[k];
        bi_set_string(p->pack[k].service, sl->service);
        if (sl->di >= 0)
            bi_set_int(p->pack[k].di, sl->di);
        else
            bi_set_invalid(p->pack[k].di);
        bi_set_string(p->pack[k].presence, pk_presence(p->bank, k));
        bi_set_string(p->pack[k].state, pack_state(p->bank, k, po));
        set_opt(p->pack[k].soc, po->has_soc, po->soc_pct);
        bi_set_double(p->pack[k].chg_share, po->charge_share);
        bi_set_double(p->pack[k].dis_share, po->discharge_share);
        bi_set_int(p->pack[k].rej_readings, (int32_t)po->rejected_count);
        bi_set_int(p->pack[k].rej_values, (int32_t)sl->rejected_values);
        if (sl->last_rejection[0])
            bi_set_string(p->pack[k].last_rej, sl->last_rejection);
        else if (po->rejected_count > 0)
            bi_set_string(p->pack[k].last_rej, rdg_verdict_name(po->last_verdict));
        else
            bi_set_invalid(p->pack[k].last_rej);
    }
}
