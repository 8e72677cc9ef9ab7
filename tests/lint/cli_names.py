#!/usr/bin/python3
"""No positional argument may be named like an option of its subcommand.

CLI11 2.4 and later (Debian 13, Fedora, Homebrew) refuse such a pair when the second is added
(OptionAlreadyAdded: a positional's name is compared with the other options' short and long
names, case-sensitively), and the process aborts before parsing; Debian 12's CLI11 2.1.2,
which CI builds with, accepts it silently. renew's positional was once `name` beside `--name`
(issue 26). This reads each subcommand's --help, so it sees exactly what the binary declares.

Usage: cli_names.py CERTENROLL_CLI
"""

import re
import subprocess
import sys

# A help text with the pair this lint exists for, which it must flag (checked on every run, so
# that a change of CLI11's help layout cannot make the lint pass without looking).
SAMPLE = """Usage: certenroll-cli renew [OPTIONS] [name]

Positionals:
  name TEXT                   Managed certificate to renew

Options:
  -h,--help                   Print this help message and exit
  --name TEXT                 Name under which --cert becomes a managed certificate
"""


def sections(help_text):
    """{section title, lower case: [its lines]} of a CLI11 help text. Titles are matched
    whatever their case ("Options:" in Debian's 2.1 and 2.4; some releases write "OPTIONS:")."""
    found, current = {}, None
    for line in help_text.splitlines():
        if re.match(r"^[A-Za-z][A-Za-z ]*:$", line):
            current = found.setdefault(line[:-1].lower(), [])
        elif not line.strip():
            current = None
        elif current is not None:
            current.append(line)
    return found


def entry_names(lines):
    """The first word of each entry; lines indented deeper continue a description."""
    return [line.split()[0] for line in lines if line.startswith("  ") and line[2:3] != " "]


def option_names(lines):
    """Every short and long name, without dashes: the leading words that start with '-'
    ("-h,--help"; also "-h,     --help" and "        --all", the two-column layout of some
    CLI11 releases)."""
    names = set()
    for line in lines:
        for word in line.split():
            if not word.startswith("-"):
                break
            names.update(flag.lstrip("-") for flag in word.split(",") if flag)
    return names


def clashes(help_text):
    """Positional names that equal a short or long option name of the same help text."""
    parts = sections(help_text)
    names = option_names(parts.get("options", []))
    return [name for name in entry_names(parts.get("positionals", [])) if name in names]


def help_of(cli, *args):
    done = subprocess.run([cli, *args, "--help"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"cli_names: '{' '.join([cli, *args])} --help' exited {done.returncode}: "
                 f"{done.stderr.strip()}")
    return done.stdout


def main(cli):
    if clashes(SAMPLE) != ["name"]:
        sys.exit("cli_names: the check no longer finds 'name' beside --name in its sample: "
                 "CLI11's help layout changed; update sections() and option_names()")
    subcommands = entry_names(sections(help_of(cli)).get("subcommands", []))
    if not subcommands:
        sys.exit("cli_names: no subcommands found in --help")
    failures = []
    for subcommand in subcommands:
        for name in clashes(help_of(cli, subcommand)):
            failures.append(f"{subcommand}: positional '{name}' is also an option name; CLI11 "
                            f"2.4+ aborts on it: rename the positional (e.g. '{name.upper()}')")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"cli_names: {len(subcommands)} subcommands checked, {len(failures)} clashes")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
