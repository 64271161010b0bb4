# SPDX-License-Identifier: BSD-3-Clause
# Build vfiouserd-python(3) from its .in: a line "@EXAMPLE path@" becomes
# the file at src/path, escaped for roff's no-fill mode (backslashes,
# hyphens that must stay ASCII, lines that would read as requests).
/^@EXAMPLE .*@$/ {
    path = substr($0, 10, length($0) - 10)
    file = src "/" path
    while ((getline line < file) > 0) {
        gsub(/\\/, "\\e", line)
        gsub(/-/, "\\-", line)
        if (line ~ /^[.']/) {
            line = "\\&" line
        }
        print line
    }
    close(file)
    next
}
{ print }
