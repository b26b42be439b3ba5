#!/usr/bin/env bash
# --help is true to the option tables: every option a command's table in
# src/cli/cmd_*.c accepts (and the shared --pack-weights) is named in
# `lmdiff CMD --help` or a subcommand's, and an unknown option is still a
# usage error (exit 2) on every command.  A new option cannot go unnamed.
. "$(dirname "$0")/lib.bash"
for f in "$SRC"/src/cli/cmd_*.c; do
  c=$(basename "$f" .c); c=${c#cmd_}; c=${c//_/-}
  [ "$c" = diff-segments ] && continue # part of diff, no table of its own
  help=$("$LMDIFF" "$c" --help) && ok || { bad "lmdiff $c --help exits $?"; continue; }
  for s in make info merge import preprocess status; do # the subcommands'
    help+=$("$LMDIFF" "$c" "$s" --help 2>/dev/null)
  done
  opts=$(grep -o '{"--[a-z0-9-]*"' "$f" | tr -d '{"')
  grep -q CLI_PACK_WEIGHTS_OPT "$f" && opts+=" --pack-weights"
  [ -n "$opts" ] && ok || bad "no option table found in $f"
  for o in $opts; do
    case $o in --help) continue ;; --output) o=-o ;; esac # --output is shown as -o
    printf '%s' "$help" | grep -q -- "$o\b" && ok || bad "lmdiff $c --help does not name $o"
  done
  "$LMDIFF" "$c" --no-such-option >/dev/null 2>&1
  rc=$?
  [ $rc -eq 2 ] && ok || bad "lmdiff $c --no-such-option exits $rc, not 2"
done
finish
