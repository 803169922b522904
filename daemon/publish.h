/* The virtual battery's paths: created once, then filled from each tick's pol_output. */
#ifndef BMSAGG_PUBLISH_H
#define BMSAGG_PUBLISH_H

#include <stdbool.h>

#include "busitem.h"
#include "conf.h"
#include "packs.h"
#include "policy.h"

/* 0xBA50 (packs.h; "BA" for battery aggregate, like 0xBA77 and 0xBA44, then 0x50): in no DVCC quirk table
 * (VENUS-DBUS.md section 8) and used by no peer we know of, so DVCC applies no product quirk to us. */
#define PUB_PRODUCT_ID PK_PRODUCT_ID_SELF

typedef struct {
    bi_service *bi;
    const conf_t *cfg;       /* the daemon's current config */
    pk_bank *bank;
    bool ack_requested;      /* set by a write to /Aggregator/AcknowledgeAlarm, consumed by the tick */
    /* A valid write to /CustomName is handed here (the daemon persists it and shows the result);
     * NULL = only shown. Set after pub_create. */
    void (*custom_name_written)(void *ctx, const char *name);
    void *custom_name_ctx;

    bi_item *soc, *voltage, *current, *power, *temp, *capacity, *installed, *consumed;
    bi_item *cvl, *ccl, *dcl, *blv, *chg_lim, *dis_lim;
    bi_item *min_cell, *max_cell, *min_cell_id, *max_cell_id;
    bi_item *n_online, *n_offline, *n_block_c, *n_block_d, *n_batteries;
    bi_item *allow_c, *allow_d;
    bi_item *alarm[RDG_AL_COUNT];
    bi_item *product_name, *custom_name;
    bi_item *spread, *tier, *tier_ccl, *spike, *min_temp, *rej_readings, *rej_values, *call_failures,
        *expected, *ack;
    struct {
        bi_item *service, *di, *presence, *state, *soc, *chg_share, *dis_share, *rej_readings, *rej_values,
            *last_rej;
    } pack[POL_MAX_PACKS];
} pub_ctx;

/* Adds every path of the service (mandatory ones, battery values, alarms, diagnostics of the
 * slots known so far). 0 or -1 (out of memory). */
int pub_create(pub_ctx *p, bi_service *bi, const conf_t *cfg, pk_bank *bank, int device_instance);
/* Diagnostic paths /Packs/<slot>/... for a new slot. */
void pub_add_pack(pub_ctx *p, int slot);
/* Product and custom name after a config reload. */
void pub_config_changed(pub_ctx *p, const conf_t *old_cfg);
/* Fills every value from the core's output. */
void pub_update(pub_ctx *p, const pol_output *out, int n_slots);

#endif
