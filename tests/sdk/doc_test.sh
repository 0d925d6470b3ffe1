#!/usr/bin/env bash
# docs/writing-a-plugin.md must not drift from the example it walks through:
# every fenced block announced by `<!-- excerpt: PATH -->` must appear
# verbatim in PATH, and every relative link must name an existing file.
#
# Usage: doc_test.sh SRC_DIR
set -euo pipefail
src=$1
doc=$src/docs/writing-a-plugin.md
[[ -f $doc ]] || { echo "FAIL: $doc missing" >&2; exit 1; }

failures=0 excerpts=0
path="" in_block=false block="" line_no=0 start=0
while IFS= read -r line || [[ -n $line ]]; do
    line_no=$((line_no + 1))
    if [[ $in_block == true ]]; then
        if [[ $line == '```' ]]; then
            in_block=false
            content=$(<"$src/$path")
            if [[ $content != *"$block"* ]]; then
                echo "FAIL: the excerpt at docs/writing-a-plugin.md:$start is not in $path" >&2
                failures=$((failures + 1))
            fi
            excerpts=$((excerpts + 1))
            path=""
        else
            block+=${block:+$'\n'}$line
        fi
        continue
    fi
    if [[ $line =~ ^\<!--\ excerpt:\ ([^ ]+)\ --\>$ ]]; then
        path=${BASH_REMATCH[1]}
        [[ -f $src/$path ]] || { echo "FAIL: line $line_no: no file $path" >&2; exit 1; }
        continue
    fi
    if [[ -n $path ]]; then
        if [[ $line =~ ^\`\`\`[a-z]*$ ]]; then
            in_block=true block="" start=$line_no
        else
            echo "FAIL: line $line_no: an excerpt marker must be followed by a code fence" >&2
            exit 1
        fi
    fi
done <"$doc"
[[ $in_block == false ]] || { echo "FAIL: unterminated code block" >&2; exit 1; }

# Relative links: [text](../path) from docs/.
while IFS= read -r target; do
    target=${target%%#*}
    [[ -z $target ]] && continue
    [[ -e $src/docs/$target ]] || {
        echo "FAIL: broken link to $target" >&2
        failures=$((failures + 1))
    }
done < <(grep -oE '\]\([^)#:]+(#[^)]*)?\)' "$doc" | sed -E 's/^\]\(([^)]*)\)$/\1/')

((excerpts > 0)) || { echo "FAIL: no excerpts found" >&2; exit 1; }
((failures == 0)) || exit 1
echo "PASS: $excerpts excerpts match the example, links resolve"
