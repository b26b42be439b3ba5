#!/usr/bin/env bash
# man-from-help.sh LMDIFF OUTDIR: writes lmdiff.1 and lmdiff-COMMAND.1 for
# every command `lmdiff --help` lists, made from the --help texts (so the
# man pages say what the binary says).  The help is shown preformatted, with
# roff's special characters escaped.
set -euo pipefail
bin=$1 out=$2
mkdir -p "$out"
ver=$("$bin" --version | awk '{print $NF}')
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
page() { # page NAME SUMMARY HELP-TEXT-FILE
  {
    printf '.TH %s 1 "" "lmdiff %s" "User Commands"\n' "$(echo "$1" | tr a-z A-Z)" "$ver"
    printf '.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n.nf\n' "$1" "$2"
    esc < "$3"
    printf '.fi\n'
    [ "$1" = lmdiff ] || printf '.SH SEE ALSO\nlmdiff(1)\n'
  } > "$out/$1.1.tmp"
  mv "$out/$1.1.tmp" "$out/$1.1"
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$bin" --help > "$tmp"
page lmdiff "compare two language models token by token" "$tmp"
sed -n 's/^  \([a-z]\+\)  \+\(.*\)$/\1\t\2/p' "$tmp" | while IFS=$'\t' read -r cmd summary; do
  "$bin" "$cmd" --help > "$tmp.cmd"
  page "lmdiff-$cmd" "$summary" "$tmp.cmd"
  rm -f "$tmp.cmd"
done
