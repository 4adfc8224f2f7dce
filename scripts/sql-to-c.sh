#!/bin/sh
# sql-to-c.sh NAME FILE - print FILE (a schema) as a C string constant
# named NAME, one source line per line, so the schema is kept in one place
# and compiled into the program that runs it.
set -eu
echo "/* Generated from $(basename "$2") by make: do not edit. */"
echo "static char const $1[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' -e 's/^/	"/' -e 's/$/\\n"/' "$2"
echo ';'
