#!/usr/bin/env bash
#
# tests/man/check.sh STRATA MANDIR - keep the manual pages true
#
# Checks MANDIR/strata.1 and MANDIR/strata-spec.5 against the program
# STRATA and the spec schema (spec/schema.c, found from this script's
# place in the tree, whatever MANDIR is):
#
#   - groff -ww -mandoc -z -Tutf8 prints nothing, for each page;
#   - man -l renders each page with nothing on stderr;
#   - every verb `STRATA --help` lists has a subsection `.Ss VERB` in
#     strata.1, and is in its SYNOPSIS;
#   - every flag `STRATA VERB --help` prints is an `.It` item of that
#     verb's subsection, written `Fl -long` (and `Fl x` for its short
#     form), with an `Ar` when --help shows it taking an argument and none
#     when it takes none; and the rendered page shows `--long`;
#   - every kind of spec document has a subsection `.Ss kind: KIND` in
#     strata-spec.5, and every key of that kind, nested keys included, is
#     an `.It ... Ic KEY` item between it and the next `.Ss kind:` or `.Sh`.
#
# The checks are one-way: a page may document more than --help prints
# (flags that are coming), never less.  Prints a line per check, a line per
# problem, a summary; exits 0 when all passed, 1 otherwise, 2 on a usage
# error.  Needs bash, groff (groff-base), man-db, col (bsdextrautils), perl
# (perl-base) and awk.
#
# SPDX-License-Identifier: Apache-2.0

set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 STRATA MANDIR (e.g. $0 ./strata man)" >&2
	exit 2
fi
strata=$1
mandir=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
schema=$repo/spec/schema.c
page1=$mandir/strata.1
page5=$mandir/strata-spec.5

passed=0
failed=0
pass() { printf 'PASS  %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL  %s\n' "$*"; failed=$((failed + 1)); }
problem() { printf '        %s\n' "$*"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-man-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# One language for every tool: GOption's "Application Options:" headers,
# groff's and man's messages, and the glyphs of the rendered pages.
export LC_ALL=C.UTF-8 LANG=C.UTF-8 LANGUAGE=

missing=
for tool in groff man col perl awk; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
for f in "$strata" "$page1" "$page5" "$schema"; do
	[ -e "$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	fail "prerequisites: missing:$missing"
	echo "0 passed, 1 failed"
	exit 1
fi

# The lines of PAGE's source from the line matching START (a regex) up to,
# not including, the next line matching END.
region() {
	awk -v start="$2" -v end="$3" '
		on && $0 ~ end { exit }
		on { print }
		$0 ~ start { on = 1 }' "$1"
}

# ---- the pages format cleanly ------------------------------------------

for page in "$page1" "$page5"; do
	name=$(basename "$page")
	rc=0
	groff -ww -mandoc -z -Tutf8 "$page" >"$tmp/groff.out" 2>"$tmp/groff.err" || rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$tmp/groff.err" ]; then
		fail "$name: groff -ww -mandoc -z -Tutf8 (exit $rc)"
		while IFS= read -r l; do problem "$l"; done <"$tmp/groff.err"
	else
		pass "$name: groff -ww -mandoc -z -Tutf8 prints no warning"
	fi

	# man-db drops the formatter's stderr when it writes to a terminal;
	# MAN_KEEP_STDERR keeps it.  No pager: the output is a file.
	rc=0
	MAN_KEEP_STDERR=1 MANWIDTH=100 MANPAGER=cat PAGER=cat \
		man -l "$page" >"$tmp/$name.man" 2>"$tmp/man.err" || rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$tmp/man.err" ]; then
		fail "$name: MANWIDTH=100 man -l (exit $rc)"
		while IFS= read -r l; do problem "$l"; done <"$tmp/man.err"
	elif ! grep -q '^NAME' "$tmp/$name.man"; then
		fail "$name: man -l rendered no NAME section"
	else
		pass "$name: man -l renders it with nothing on stderr"
	fi
	col -b <"$tmp/$name.man" >"$tmp/$name.txt"
done

# ---- strata.1: verbs ------------------------------------------------------

rc=0
"$strata" --help >"$tmp/help" 2>&1 || rc=$?
# "Verbs:" then a line per verb, "  NAME  summary", up to a blank line.
awk '/^Verbs:/ { on = 1; next }
     on && /^[ \t]*$/ { exit }
     on && /^[ \t]+[a-z][a-z0-9-]*[ \t]/ { print $1 }' "$tmp/help" >"$tmp/verbs"
if [ "$rc" -ne 0 ] || [ ! -s "$tmp/verbs" ]; then
	fail "strata --help: exit $rc, $(wc -l <"$tmp/verbs") verbs found (its format changed?)"
	mapfile -t verbs < <(true)
else
	mapfile -t verbs <"$tmp/verbs"
	pass "strata --help lists ${#verbs[@]} verbs"
fi

region "$page1" '^\.Sh[ \t]+SYNOPSIS' '^\.Sh[ \t]' >"$tmp/synopsis"
for verb in "${verbs[@]}"; do
	sec='^\.Ss[ \t]+(strata[ \t]+)?'"$verb"'[ \t]*$'
	bad=
	grep -Eq "$sec" "$page1" || bad="$bad no subsection '.Ss $verb';"
	grep -Eq '^\.Cm([ \t].*)?[ \t]'"$verb"'([ \t]|$)' "$tmp/synopsis" ||
		bad="$bad not in SYNOPSIS (.Cm $verb);"
	if [ -n "$bad" ]; then
		fail "strata.1: verb $verb:$bad"
	else
		pass "strata.1: verb $verb has its subsection and is in SYNOPSIS"
	fi
done

# ---- strata.1: each verb's flags -------------------------------------------

for verb in "${verbs[@]}"; do
	rc=0
	"$strata" "$verb" --help >"$tmp/vhelp" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "strata.1: verb $verb: 'strata $verb --help' exits $rc"
		continue
	fi
	# GOption's option lines, in its "... Options:" sections (each ends
	# at a blank line): "  -c, --connect=URI   text", "  --yes   text".
	# Printed: long name, short letter or "-", argument or "-".
	# --help, and the --help-all and --help-GROUP flags GOption adds when
	# a verb has option groups, are GOption's own: they are left out.
	awk '/Options:$/ { on = 1; next }
	     /^[ \t]*$/ { on = 0; next }
	     on && match($0, /^[ \t]+(-[A-Za-z0-9],[ \t]+)?--[A-Za-z0-9][-A-Za-z0-9]*(=[^ \t]+)?/) {
		s = substr($0, RSTART, RLENGTH)
		sub(/^[ \t]+/, "", s)
		short = "-"
		if (s ~ /^-[A-Za-z0-9],/) { short = substr(s, 2, 1); sub(/^-[A-Za-z0-9],[ \t]+/, "", s) }
		sub(/^--/, "", s)
		arg = "-"
		if (index(s, "=")) { arg = substr(s, index(s, "=") + 1); s = substr(s, 1, index(s, "=") - 1) }
		if (s == "help" || s ~ /^help-/) next
		print s, short, arg
	     }' "$tmp/vhelp" >"$tmp/flags"
	if [ ! -s "$tmp/flags" ]; then
		# Every verb has options; none found means the parse broke.
		fail "strata.1: verb $verb: no flag found in 'strata $verb --help' (its format changed?)"
		continue
	fi
	region "$page1" '^\.Ss[ \t]+(strata[ \t]+)?'"$verb"'[ \t]*$' '^\.S[sh][ \t]' |
		grep -E '^\.It[ \t]' >"$tmp/items" || true
	n=0
	problems=()
	while read -r long short arg; do
		n=$((n + 1))
		# The .It line that documents --long in this verb's subsection.
		item=$(grep -E '[ \t]Fl[ \t]+-'"$long"'([ \t]|$)' "$tmp/items" | head -n 1 || true)
		if [ -z "$item" ]; then
			problems+=("--$long: no '.It ... Fl -$long' in its subsection")
		else
			if [ "$short" != - ] && ! grep -Eq '[ \t]Fl[ \t]+'"$short"'([ \t]|$)' <<<"$item"; then
				problems+=("--$long: its short form -$short is not on its .It line ('Fl $short ,')")
			fi
			if [ "$arg" != - ] && ! grep -Eq '[ \t]Ar[ \t]' <<<"$item"; then
				problems+=("--$long: takes $arg, but its .It line has no 'Ar'")
			fi
			if [ "$arg" = - ] && grep -Eq '[ \t]Ar[ \t]' <<<"$item"; then
				problems+=("--$long: takes no argument, but its .It line has an 'Ar'")
			fi
		fi
		grep -Eq -- '(^|[^-A-Za-z0-9])--'"$long"'([^-A-Za-z0-9]|$)' "$tmp/strata.1.txt" ||
			problems+=("--$long: not in the rendered page")
	done <"$tmp/flags"
	if [ ${#problems[@]} -eq 0 ]; then
		pass "strata.1: verb $verb: its $n flags are documented"
	else
		fail "strata.1: verb $verb: ${#problems[@]} of its $n flags not documented as --help prints them"
		for p in "${problems[@]}"; do problem "$p"; done
	fi
done

# ---- strata-spec.5: each kind's keys ------------------------------------

# The keys of spec/schema.c: each kind's table (kinds[]: { "KIND",
# TABLE("what", ARRAY, ...) }), each array's keys (F("key", ...)), and the
# tables a key's value is decoded with (.sub = &TABLE, whose TABLE(...)
# names its array), recursively.  Comments are dropped and declarations
# split at ';', so line breaks and spacing do not matter.  Printed: the
# kind, then the key's path ("reserve.cpus").  `kind` itself is left out:
# it is the subsection's title.
rc=0
perl -e '
	local $/;
	my $src = <>;
	$src =~ s{/\*.*?\*/}{ }gs;
	my (%array, %table, @kinds);
	while ($src =~ /\bfield\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\}\s*;/gs) {
		my ($name, $body) = ($1, $2);
		my @fields;
		for my $call (split /(?=\bF\s*\()/, $body) {
			next unless $call =~ /^F\s*\(\s*"([^"]+)"/;
			my $key = $1;
			my ($sub) = $call =~ /\.sub\s*=\s*&\s*(\w+)/;
			push @fields, [$key, $sub];
		}
		$array{$name} = \@fields;
	}
	while ($src =~ /\btable\s+(\w+)\s*=\s*TABLE\s*\(\s*"[^"]*"\s*,\s*(\w+)/g) {
		$table{$1} = $2;
	}
	while ($src =~ /\{\s*"([a-z][-a-z0-9]*)"\s*,\s*TABLE\s*\(\s*"[^"]*"\s*,\s*(\w+)/g) {
		push @kinds, [$1, $2];
	}
	die "no kinds[] rows found\n" unless @kinds;
	my $walk;
	$walk = sub {
		my ($kind, $arrayname, $prefix, $depth) = @_;
		die "array $arrayname not found\n" unless $array{$arrayname};
		die "tables nested too deep at $prefix\n" if $depth > 8;
		for my $f (@{$array{$arrayname}}) {
			my ($key, $sub) = @$f;
			next if $key eq "kind" && $prefix eq "";
			print "$kind\t$prefix$key\n";
			if ($sub) {
				die "table $sub not found\n" unless $table{$sub};
				$walk->($kind, $table{$sub}, "$prefix$key.", $depth + 1);
			}
		}
	};
	$walk->($_->[0], $_->[1], "", 0) for @kinds;
' "$schema" >"$tmp/keys" 2>"$tmp/keys.err" || rc=$?
if [ "$rc" -ne 0 ] || [ ! -s "$tmp/keys" ]; then
	fail "spec/schema.c: cannot read its key tables (its layout changed?)"
	while IFS= read -r l; do problem "$l"; done <"$tmp/keys.err"
else
	pass "spec/schema.c: $(cut -f1 "$tmp/keys" | sort -u | wc -l) kinds, $(wc -l <"$tmp/keys") keys"
fi

mapfile -t kinds < <(cut -f1 "$tmp/keys" | awk '!seen[$0]++')
for kind in "${kinds[@]}"; do
	start='^\.Ss[ \t]+kind:[ \t]+'"$kind"'[ \t]*$'
	if ! grep -Eq "$start" "$page5"; then
		fail "strata-spec.5: kind $kind: no subsection '.Ss kind: $kind'"
		continue
	fi
	region "$page5" "$start" '^(\.Ss[ \t]+kind:|\.Sh[ \t])' |
		grep -E '^\.It[ \t]' >"$tmp/items" || true
	n=0
	problems=()
	while IFS=$'\t' read -r k path; do
		[ "$k" = "$kind" ] || continue
		n=$((n + 1))
		key=${path##*.}
		grep -Eq '[ \t]Ic[ \t]+'"$key"'([ \t]|$)' "$tmp/items" ||
			problems+=("$path: no '.It ... Ic $key' item")
	done <"$tmp/keys"
	if [ ${#problems[@]} -eq 0 ]; then
		pass "strata-spec.5: kind $kind: its $n keys are documented"
	else
		fail "strata-spec.5: kind $kind: ${#problems[@]} of its $n keys not documented"
		for p in "${problems[@]}"; do problem "$p"; done
	fi
done

# ---- metrics and events of strata watch: METRICS and NOTIFICATIONS -----------
# Every metric family telemetry.c declares and every event daemon.c sends
# has an item in its section.
telemetry="$repo/reconciler/telemetry.c"
mapfile -t families < <(grep -o '"strata_[a-z_]*"' "$telemetry" | tr -d '"' | sort -u)
mapfile -t events < <(grep -oE 'tell\(d, [^,]+, "[a-z_]+"' "$repo/reconciler/daemon.c" | sed 's/.*"\(.*\)"/\1/' | sort -u)
if [ ${#families[@]} -lt 10 ] || [ ${#events[@]} -lt 10 ]; then
	fail "strata.1: found ${#families[@]} metric families and ${#events[@]} events in the sources: did their form change?"
else
	problems=()
	msec=$(region "$page1" '^\.Sh[ \t]+METRICS' '^\.Sh[ \t]')
	nsec=$(region "$page1" '^\.Sh[ \t]+NOTIFICATIONS' '^\.Sh[ \t]')
	for f in "${families[@]}"; do
		grep -Eq "^\.It Va $f\$" <<<"$msec" || problems+=("metric $f: no '.It Va $f' in METRICS")
	done
	for e in "${events[@]}"; do
		grep -Eq "^\.It Cm $e\$" <<<"$nsec" || problems+=("event $e: no '.It Cm $e' in NOTIFICATIONS")
	done
	if [ ${#problems[@]} -eq 0 ]; then
		pass "strata.1: its ${#families[@]} metrics and ${#events[@]} events are documented"
	else
		fail "strata.1: ${#problems[@]} metrics or events not documented"
		for p in "${problems[@]}"; do problem "$p"; done
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
