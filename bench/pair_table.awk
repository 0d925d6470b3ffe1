# bench/pair_table.awk — one table of "A against B" rows for bench/run.sh:
# the POSIX mq rows (ipm vs raw mq_send), the NATS rows (ipm vs raw cnats)
# and the CURVE rows (ipm with CURVE vs without).
#
# Input: the harness's JSON lines (ipm-bench --json and the baselines), each
# prefixed by run.sh with "round", "row" (the row's label) and "side" ("a"
# or "b"). Per row label and size it prints the median throughput and the
# median p50/p99 one-way latency of each side, and a/b as the median over
# rounds of each round's ratio (a and b run back to back in a round, so a
# change in machine load between rounds cancels).
#
# Variables (awk -v): title (the text heading), a, b (the sides' column
# names), thr_target (a/b throughput at least this), lat_target (a/b p50 at
# most this), md (also append a markdown table to this file) and mdtitle
# (its heading). A ratio outside its target is marked " *". Exit status 1
# if a measurement failed.
function field(line, key) {
    if (match(line, "\"" key "\":\"[^\"]*\"")) return substr(line, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
    if (match(line, "\"" key "\":[^,}]*")) return substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    return ""
}
function median(key,   n, i, j, t, v) {
    n = cnt[key]; if (n == 0) return ""
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(key, x) { cnt[key]++; val[key, cnt[key]] = x + 0 }
function rate(x) { if (x == "") return "—"; if (x >= 1e6) return sprintf("%.2f M", x / 1e6); if (x >= 1e3) return sprintf("%.1f k", x / 1e3); return sprintf("%.0f", x) }
function us(x) { if (x == "") return "—"; return x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
function ratio(p, k, target, higher,   i, x, y, r, key) {
    key = "r" SUBSEP p SUBSEP k
    for (i = 1; i <= maxround; i++) { x = rv[p, "a", k, i]; y = rv[p, "b", k, i]; if (x != "" && y != "" && y > 0) add(key, x / y) }
    r = median(key); if (r == "") return "—"
    return sprintf("%.2fx%s", r, (higher ? r < target : r > target) ? " *" : "")
}
function human(n) { return n >= 1048576 ? (n / 1048576) " MiB" : n >= 1024 ? (n / 1024) " KiB" : n " B" }
function line(c1, c2, c3, c4, c5, c6, c7, c8) {
    printf "%-12s%-10s%-9s %11s %11s %9s %11s %11s\n", c1, c2, c3, c4, c5, c6, c7, c8
    if (md != "") print "| " c1 " | " c2 " | " c3 " | " c4 " | " c5 " | " c6 " | " c7 " | " c8 " |" >> md
}
{
    if (field($0, "ok") != "true") { errors[++nerr] = $0; next }
    side = field($0, "side"); p = field($0, "pattern"); row = field($0, "row")
    k = row SUBSEP (field($0, "size") + 0)
    rnd = field($0, "round") + 0; if (rnd > maxround) maxround = rnd
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
    if (p == "throughput") { add("thr" SUBSEP side SUBSEP k, field($0, "msgs_per_s")); rv["thr", side, k, rnd] = field($0, "msgs_per_s") }
    else { add("p50" SUBSEP side SUBSEP k, field($0, "lat_p50_us")); add("p99" SUBSEP side SUBSEP k, field($0, "lat_p99_us")); rv["p50", side, k, rnd] = field($0, "lat_p50_us") }
    if (field($0, "lost") + 0 > 0 && field($0, "lossless") == "true") lost[row " " side " " field($0, "size")]++
}
END {
    print title
    if (md != "") { print "" >> md; print mdtitle >> md; print "" >> md
        print "| row | size | pattern | " a " | " b " | " a "/" b " | " a " p99 | " b " p99 |" >> md
        print "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |" >> md }
    printf "%-12s%-10s%-9s %11s %11s %9s %11s %11s\n", "row", "size", "pattern", a, b, a "/" b, a " p99", b " p99"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, part, SUBSEP)
        if (cnt["thr" SUBSEP "a" SUBSEP k] + cnt["thr" SUBSEP "b" SUBSEP k] > 0)
            line(part[1], human(part[2]), "msg/s", rate(median("thr" SUBSEP "a" SUBSEP k)), rate(median("thr" SUBSEP "b" SUBSEP k)), ratio("thr", k, thr_target, 1), "—", "—")
        if (cnt["p50" SUBSEP "a" SUBSEP k] + cnt["p50" SUBSEP "b" SUBSEP k] > 0)
            line(part[1], human(part[2]), "p50 us", us(median("p50" SUBSEP "a" SUBSEP k)), us(median("p50" SUBSEP "b" SUBSEP k)), ratio("p50", k, lat_target, 0),
                 us(median("p99" SUBSEP "a" SUBSEP k)), us(median("p99" SUBSEP "b" SUBSEP k)))
    }
    for (x in lost) print "LOST messages on a lossless pattern: " x
    for (i = 1; i <= nerr; i++) print "FAILED: " errors[i]
    if (nerr) exit 1
}
