/* Replays a daemon recording through the core: proves it identical, or shows what another config would have done. */
#ifndef BMSAGG_REPLAY_H
#define BMSAGG_REPLAY_H

#include <stdio.h>

#include "conf.h"

enum { REPLAY_IDENTICAL = 0, REPLAY_DIFFERENT = 1, REPLAY_BAD_INPUT = 2 };

/* Feeds the recording's readings to the core at their recorded times with the recording's own
 * config (from its side file) and compares every recorded output row exactly; differences are
 * reported with time and field. With config_path, also runs that config on the same readings
 * and reports tier changes, alarm times, min/max CCL and time limited for both; with out_dir,
 * writes both traces and replay.png there. Malformed input: FILE:LINE message, REPLAY_BAD_INPUT;
 * a truncated last line is skipped with a warning. */
int rec_replay(const char *rec_path, const char *config_path, const char *out_dir, FILE *report);

#endif
