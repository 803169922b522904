# Balancing convergence of one run: pack SOCs and spread, CCL with the tier bands, max cell per pack vs OVP.
# Called by plot.sh with: -e "trace='DIR/trace.csv'; out='DIR'; npacks=N; ovp=3.65; nominal=150; title_='...'"
set datafile separator ','
set terminal pngcairo size 1200,500 noenhanced font 'DejaVu Sans,10'
set key outside right top
set grid
set xlabel 'time (h)'

# 1. SOC per pack (reported solid, true dashed) and the spread the controller saw.
set output out.'/soc.png'
set title title_.': pack SOC (reported solid, true dashed) and SOC spread'
set ylabel 'SOC (%)'
set y2label 'spread (pp)'
set ytics nomirror
set y2tics
set yrange [0:105]
set y2range [0:*]
# Big banks: one legend entry per kind instead of one per pack.
rep_title(k) = npacks <= 8 ? 'pack '.k.' reported' : (k == 1 ? 'packs, reported' : '')
true_title(k) = npacks <= 4 ? 'pack '.k.' true' : (k == 1 ? 'packs, true (dashed)' : '')
plot for [k=1:npacks] trace using 't_h':(column('soc_rep_'.k)) with lines lw 2 lc k title rep_title(k), \
     for [k=1:npacks] trace using 't_h':(column('soc_true_'.k)) with lines dt 2 lc k title true_title(k), \
     trace using 't_h':(column('spread_pct') < 0 ? NaN : column('spread_pct')) axes x1y2 with lines lw 2 lc rgb 'black' title 'spread (controller)', \
     5 axes x1y2 with lines dt 3 lc rgb 'gray40' title '5 pp', \
     10 axes x1y2 with lines dt 3 lc rgb 'gray60' title '10 pp', \
     15 axes x1y2 with lines dt 3 lc rgb 'red' title '15 pp (red)'
unset y2label
unset y2tics
set ytics mirror

# 2. CCL against the tier bands, with the bank current.
set output out.'/ccl.png'
set title title_.': charge current limit and tier bands'
set ylabel 'current (A)'
set yrange [*:*]
set object 1 rect from graph 0, first nominal*0.85 to graph 1, first nominal fc rgb '#e0f0e0' fs solid 0.5 noborder behind
set object 2 rect from graph 0, first nominal*0.66 to graph 1, first nominal*0.85 fc rgb '#f0f0d0' fs solid 0.5 noborder behind
set object 3 rect from graph 0, first nominal*0.33 to graph 1, first nominal*0.66 fc rgb '#f8e0c0' fs solid 0.5 noborder behind
set object 4 rect from graph 0, first 0 to graph 1, first nominal*0.33 fc rgb '#f8d0d0' fs solid 0.5 noborder behind
plot trace using 't_h':'ccl_min_a' with steps lw 1 lc rgb '#8080ff' title 'CCL (lowest in the minute)', \
     trace using 't_h':'ccl_a' with steps lw 2 lc rgb 'blue' title 'CCL (published)', \
     trace using 't_h':'tier_ccl_a' with steps dt 2 lc rgb 'dark-violet' title 'tier limit', \
     trace using 't_h':'i_bank_a' with lines lc rgb 'gray50' title 'bank current', \
     nominal*1.00 with lines dt 3 lc rgb 'dark-green' title '100 %', \
     nominal*0.85 with lines dt 3 lc rgb 'olive' title '85 %', \
     nominal*0.66 with lines dt 3 lc rgb 'orange' title '66 %', \
     nominal*0.33 with lines dt 3 lc rgb 'red' title '33 %'
unset object 1
unset object 2
unset object 3
unset object 4

# 3. Highest cell per pack (window maximum) against the BMS over-voltage trip.
set output out.'/cells.png'
set title title_.': highest cell voltage per pack vs the BMS over-voltage trip'
set ylabel 'cell voltage (V)'
set yrange [3.2:ovp+0.05]
max_title(k) = npacks <= 8 ? 'pack '.k.' max cell' : (k == 1 ? 'max cell of each pack' : '')
plot for [k=1:npacks] trace using 't_h':(column('vmax_'.k)) with lines lw 1.5 lc k title max_title(k), \
     ovp with lines lw 2 dt 2 lc rgb 'red' title 'OVP trip', \
     3.60 with lines dt 3 lc rgb 'orange' title 'default cell stop 3.60 V', \
     3.45 with lines dt 3 lc rgb 'gray50' title 'default taper start 3.45 V'
