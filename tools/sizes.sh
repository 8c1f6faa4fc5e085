#!/bin/sh
# `make lint`: the size rules of issue 9 for daemon/ and drivers/: no file
# over 600 lines, no function over 80. Prints each one over and exits 1, so
# a file or a function that grew is split while the seam is still fresh.
# Functions are counted from their opening brace to their closing one, both
# in column 0 as the code's style puts them; no ctags or compiler needed.
MAX_FILE=${MAX_FILE:-600}
MAX_FN=${MAX_FN:-80}
status=0
for f in daemon/*.[ch] drivers/*.[ch]; do
	n=$(wc -l <"$f")
	if [ "$n" -gt "$MAX_FILE" ]; then
		echo "$f: $n lines (at most $MAX_FILE)"
		status=1
	fi
	awk -v f="$f" -v max="$MAX_FN" '
		/^[A-Za-z_].*\(/ && !/;[ \t]*$/ { name = $0 }
		/^\{/ { start = NR }
		/^\}/ && start {
			if (NR - start + 1 > max) {
				sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
				printf "%s:%d: %s: %d lines (at most %d)\n", f, start, name, NR - start + 1, max
				bad = 1
			}
			start = 0
		}
		END { exit bad }' "$f" || status=1
done
exit $status
