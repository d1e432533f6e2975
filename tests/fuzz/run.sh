#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time (default 30 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
out=build-fuzz
mkdir -p "$out"
flags=(-std=c17 -D_GNU_SOURCE -DWEDPOOL_VERSION='"fuzz"' -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Isrc/core -Isrc/auth -Isrc/config -Isrc/proxy -Isrc/pool -Isrc/observe -Isrc/backend -Isrc/wedding -Isrc/alert)
clang "${flags[@]}" tests/fuzz/fuzz_startup.c src/core/proto.c src/proxy/params.c -o "$out/fuzz_startup"
targets=(fuzz_startup)
clang "${flags[@]}" tests/fuzz/fuzz_negotiate.c src/proxy/negotiate.c -o "$out/fuzz_negotiate"
targets+=(fuzz_negotiate)
clang "${flags[@]}" tests/fuzz/fuzz_relay.c src/core/msg.c src/proxy/expect.c -o "$out/fuzz_relay"
targets+=(fuzz_relay)
clang "${flags[@]}" tests/fuzz/fuzz_prepared.c src/proxy/prepared.c src/proxy/expect.c src/core/msg.c src/core/proto.c -o "$out/fuzz_prepared"
targets+=(fuzz_prepared)
if [ -f tests/fuzz/fuzz_scram.c ]; then
    clang "${flags[@]}" tests/fuzz/fuzz_scram.c src/auth/scram.c src/auth/md5.c -lcrypto -o "$out/fuzz_scram"
    targets+=(fuzz_scram)
fi
if [ -f tests/fuzz/fuzz_config.c ]; then
    clang "${flags[@]}" tests/fuzz/fuzz_config.c src/config/config.c src/core/log.c src/auth/hba.c src/core/cidr.c src/core/readfile.c src/auth/scram.c src/auth/md5.c -linih -lcrypto -o "$out/fuzz_config"
    targets+=(fuzz_config)
fi
clang "${flags[@]}" tests/fuzz/fuzz_hosts.c src/config/hosts.c -o "$out/fuzz_hosts"
targets+=(fuzz_hosts)
mkdir -p "$out/corpus-fuzz_hosts"
printf 'pg1,pg2,10.0.0.3\n5432,5433,5434' >"$out/corpus-fuzz_hosts/seed-three"
printf '/tmp, pg2\n6000' >"$out/corpus-fuzz_hosts/seed-one-port"
printf 'a,,b\n1,' >"$out/corpus-fuzz_hosts/seed-bad"
clang "${flags[@]}" tests/fuzz/fuzz_hba.c src/auth/hba.c src/core/cidr.c src/core/readfile.c -o "$out/fuzz_hba"
targets+=(fuzz_hba)
# Seeds: rule lines of every form, and lines each refused for a different reason.
mkdir -p "$out/corpus-fuzz_hba"
printf '# TYPE DATABASE USER ADDRESS METHOD\nlocal wedpool postgres trust\nhost appdb,"My Db" app,"x y" 10.0.0.0/8 md5\nhostssl all all ::1/128 cert\nhostnossl sameuser all 192.168.0.0 255.255.0.0 scram-sha-256\nhost all all all reject\n' >"$out/corpus-fuzz_hba/seed-rules"
printf 'host all all samenet trust\nlocal @f all md5 map=x\nhost "a""b" all 10.0.0.0 ffff:: md5\n' >"$out/corpus-fuzz_hba/seed-bad"
clang "${flags[@]}" tests/fuzz/fuzz_pin.c src/proxy/pin.c src/proxy/params.c -ljansson -lpg_query -o "$out/fuzz_pin"
targets+=(fuzz_pin)
# Seeds: each kind of session state, its release, and what must not pin.
mkdir -p "$out/corpus-fuzz_pin"
i=0
for q in "SET search_path = x" "set local work_mem = '1MB'" "SELECT set_config('a.b', 'c', false)" "SET ROLE r" \
    "PREPARE p AS SELECT 1" "LISTEN c; UNLISTEN *" "CREATE TEMP TABLE t (a int) ON COMMIT DROP" \
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1" "SELECT pg_advisory_lock(1), pg_advisory_unlock_all()" \
    "LOAD 'x'" "DISCARD ALL" "select * into temp t from x" "/* c */ (select 1); reset all" "CLOSE ALL" \
    "EXECUTE wp_0123456789abcdef(1)" "deallocate U&\"\\0077p_x\"" \
    "DO \$\$ BEGIN EXECUTE 'SET search_path = x'; PERFORM set_config('a', 'b', false); END \$\$" \
    "do 'begin update t set a = 1; create local temp table t2 (a int); end'"; do
    printf '%s' "$q" >"$out/corpus-fuzz_pin/seed-$i"
    i=$((i + 1))
done
clang "${flags[@]}" tests/fuzz/fuzz_calendar.c src/wedding/calendar.c src/core/clock.c -lical -lm -lpthread -o "$out/fuzz_calendar"
targets+=(fuzz_calendar)
# Seeds: the test fixtures, behind the selector byte (0 = iCalendar, 1 = CSV).
mkdir -p "$out/corpus-fuzz_calendar"
for f in tests/fixtures/calendars/*; do
    sel='\x00'
    case "$f" in *.csv) sel='\x01' ;; esac
    { printf "$sel"; cat "$f"; } >"$out/corpus-fuzz_calendar/seed-$(basename "$f")"
done
clang "${flags[@]}" -Isrc/alert tests/fuzz/fuzz_alert_rules.c src/alert/rules.c src/alert/alert_names.c -o "$out/fuzz_alert_rules"
targets+=(fuzz_alert_rules)
# Seeds: the documented [alert_rules] lines (selector byte 0), and a state-machine walk (1).
mkdir -p "$out/corpus-fuzz_alert_rules"
printf '\x00pool_utilization = threshold=85 for_s=30\nclients_waiting=threshold=50 for_s=15\nbackend_down = for_s=0 off\nrenotify_min = 60\ncalendar_stale = threshold=abc\n' >"$out/corpus-fuzz_alert_rules/seed-lines"
printf '\x01\x07\x17\x27\x37\x17\xf6\x16\x00\x17\x27\x1f\xf7\x27' >"$out/corpus-fuzz_alert_rules/seed-walk"
clang "${flags[@]}" -Isrc/alert tests/fuzz/fuzz_alert_channel.c src/alert/channel_conf.c src/alert/format.c src/alert/alert_names.c -ljansson -lcrypto -o "$out/fuzz_alert_channel"
targets+=(fuzz_alert_channel)
# Seeds: a line of each channel type, and a Retry-After date.
mkdir -p "$out/corpus-fuzz_alert_channel"
printf 'oncall\0type=slack url=env:SET min_severity=HIGH' >"$out/corpus-fuzz_alert_channel/seed-slack"
printf 'sms\0type=twilio account_sid=AC1 auth_token=t from=+15550100 to=+15550101,+15550102 min_severity=CRITICAL' >"$out/corpus-fuzz_alert_channel/seed-twilio"
printf "mail\\0type=email url=smtp://h:25 from='W <a@b.c>' to=x@y.z min_severity=HIGH" >"$out/corpus-fuzz_alert_channel/seed-email"
printf 'am\0type=alertmanager url=http://h:9093/ min_severity=WARNING resend_s=30' >"$out/corpus-fuzz_alert_channel/seed-am"
printf 'x\0Wed, 21 Oct 2015 07:28:00 GMT' >"$out/corpus-fuzz_alert_channel/seed-date"
for t in "${targets[@]}"; do
    echo "fuzz: $t for ${secs}s"
    mkdir -p "$out/corpus-$t"
    "$out/$t" -max_total_time="$secs" -max_len=16384 "$out/corpus-$t" 2>&1 | tail -3
done
