"""Words that match behaviour: every certenroll-cli command that the hints (C++ sources), README
and man page show parses; help, README and man agree on who takes the server options; messages
point at options that exist."""

import json
import os
import re
import shlex
import subprocess
import unittest

import cli

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SUBCOMMANDS = ("policy", "enroll", "renew", "retrieve-pending", "list", "diagnose", "completion")


def cpp_strings(text):
    """The string-literal expressions of a C++ file, comments skipped: adjacent literals joined,
    and each non-literal operand of `+` between or after them replaced by X (a value)."""
    expressions, current, i, n = [], None, 0, len(text)
    pending_operand = False
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c == "'" and not text[i - 1].isalnum():  # a char literal ('"', '\''), no 1'000
            end = text.find("'", i + 3 if text[i + 1] == "\\" else i + 2)
            i = n if end < 0 else end + 1
            continue
        raw = re.match(r'R"([^(\s]*)\(', text[i:i + 20]) if c == "R" else None
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find(")" + raw.group(1) + '"', i)
            i = n if end < 0 else end + len(raw.group(1)) + 2
            continue
        if c == '"':
            j, chars = i + 1, []
            while text[j] != '"':
                if text[j] == "\\":
                    chars.append({"n": "\n", "t": "\t"}.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    chars.append(text[j])
                    j += 1
            literal = "".join(chars)
            if current is None:
                current = literal
            else:
                current += ("X" if pending_operand else "") + literal
            pending_operand = False
            i = j + 1
            continue
        if current is not None:
            if c == "+" or text.startswith("<<", i):  # "a " + x + " b", out << "a " << x
                pending_operand = True
                i += 2 if c == "<" else 1
                continue
            elif not c.isspace() and not pending_operand:
                expressions.append(current)
                current = None
            elif c in ";,{}" or (c == ")" and not pending_operand):
                expressions.append(current + ("X" if pending_operand else ""))
                current, pending_operand = None, False
        i += 1
    if current is not None:
        expressions.append(current)
    return expressions


def commands_in_prose(text):
    """`certenroll-cli ...` commands inside a message: up to a quote, a parenthesis, a newline or
    a shell redirection; only those that name a subcommand."""
    found = []
    for match in re.finditer(r"certenroll-cli ((?:--?[a-z]|" + "|".join(SUBCOMMANDS) + r")[^'()\n;`]*)",
                             text):
        words = []
        for word in match.group(1).split():
            if re.search(r"[<>|&]", word) and word != "<subcommand>":
                break
            words.append(word)
        found.append(words)
    return found


def shell_words(line):
    """The words of a shell command line up to a pipe, redirection, comment or `;`."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    lexer.wordchars += "$*/:=.,@%~+-\\"
    words = []
    for word in lexer:
        if word in ("|", "||", "&&", ";", ">", ">>", "<", "2>", "&", "(", ")", "<(", "`"):
            break
        words.append(word)
    return words


def commands_in_shell(line):
    """The certenroll-cli command of one shell line (with continuations joined)."""
    at = line.find("certenroll-cli ")
    if at < 0:
        return []
    return [shell_words(line[at + len("certenroll-cli "):])]


def readme_commands():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    commands, block, outside = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if block is None:
                block = []
            else:
                for command in "\n".join(block).replace("\\\n", " ").splitlines():
                    commands += commands_in_shell(command)
                block = None
        elif block is not None:
            block.append(line)
        else:
            outside.append(line)
    for span in re.findall(r"`([^`\n]*certenroll-cli [^`\n]*)`", "\n".join(outside)):
        commands += commands_in_shell(span)
    return commands


def man_text():
    with open(os.path.join(ROOT, "man", "certenroll-cli.1")) as f:
        text = f.read()
    text = re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-").replace("\\e", "\\")
    lines = []
    for line in text.splitlines():
        if line.startswith(".") and not line.startswith((".B ", ".BR ", ".I ", ".IR ", ".RB ")):
            lines.append("")
            continue
        lines.append(re.sub(r"^\.[A-Z]+ ", "", line))
    return "\n".join(lines)


def man_commands():
    commands = []
    for line in man_text().replace("\\\n", " ").splitlines():
        line = line.replace('"', "") if line.count('"') % 2 else line
        if re.search(r"certenroll-cli (--?[a-z][a-z-]*|" + "|".join(SUBCOMMANDS) + r")\b", line):
            commands += commands_in_shell(line)
    return commands


def source_commands():
    commands = []
    for top in ("src", "cmd"):
        for base, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith((".cpp", ".hpp")):
                    continue
                with open(os.path.join(base, name)) as f:
                    for literal in cpp_strings(f.read()):
                        for words in commands_in_prose(literal):
                            commands.append((os.path.join(base, name), words))
    return commands


def names_subcommand(words):
    return any(w in SUBCOMMANDS for w in words) or words[:1] in (["--help"], ["--version"])


def placeholders_filled(words):
    """Words that stand for values the reader supplies become values CLI11 accepts."""
    out = []
    for word in words:
        if word in ("...", "[options]") or re.fullmatch(r"\[.*\]", word):
            continue
        out.append("policy" if word == "<subcommand>" else word)
    return out


class CommandsParseTest(unittest.TestCase):
    """Each command shown to users is parsed by the CLI's own parser (certenroll-cli-test with
    CERTENROLL_TEST_PARSE_ONLY=1: parse, then exit without running), so an option that does not
    exist (`--san`, `renew --dry-run`) fails here."""

    def parse(self, words):
        env = dict(os.environ, CERTENROLL_TEST_PARSE_ONLY="1")
        return subprocess.run([cli.CLI_TEST, *words], capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=60)

    def assertParses(self, where, words):
        words = placeholders_filled(words)
        result = self.parse(words)
        # "..." elides the rest of a command, required options included.
        if result.returncode != 0 and "is required" in result.stderr:
            return
        self.assertEqual(result.returncode, 0,
                         f"{where}: 'certenroll-cli {' '.join(words)}' does not parse:\n"
                         f"{result.stderr}")

    def test_the_parse_only_mode_refuses_an_option_that_does_not_exist(self):
        self.assertEqual(self.parse(["renew", "--all"]).returncode, 0)
        for bad in (["renew", "--all", "--dry-run"], ["enroll", "--template", "T", "--san", "x"],
                    ["list", "--bogus"], ["policy", "--template"]):
            result = self.parse(bad)
            self.assertEqual(result.returncode, 2, (bad, result.stderr))

    def test_commands_in_the_hints_of_the_sources_parse(self):
        commands = [(where, w) for where, w in source_commands() if names_subcommand(w)]
        # The extraction itself works: these hints are known to be there.
        shown = [" ".join(w) for _, w in commands]
        self.assertIn("list", shown)
        self.assertIn("enroll --template X --name X", shown)
        self.assertIn("retrieve-pending X", shown)
        for where, words in commands:
            with self.subTest(where=where, command=" ".join(words)):
                self.assertParses(where, words)

    def test_no_hint_names_a_command_that_does_not_exist(self):
        for where, words in source_commands():
            self.assertNotIn("--dry-run", words if "renew" in words else [], where)
            self.assertNotIn("--san", words, where)

    def test_commands_in_the_readme_parse(self):
        commands = [w for w in readme_commands() if names_subcommand(w)]
        self.assertGreater(len(commands), 15)
        self.assertIn(["list"], commands)
        for words in commands:
            with self.subTest(command=" ".join(words)):
                self.assertParses("README.md", words)

    def test_commands_in_the_man_page_parse(self):
        commands = [w for w in man_commands() if names_subcommand(w)]
        self.assertGreater(len(commands), 5)
        for words in commands:
            with self.subTest(command=" ".join(words)):
                self.assertParses("man page", words)


class HelpAgreesTest(unittest.TestCase):
    def help_of(self, sub):
        return cli.run(sub, "--help", json_mode=False).stdout

    def test_the_man_page_names_the_subcommands_that_take_the_server_options(self):
        with open(os.path.join(ROOT, "man", "certenroll-cli.1")) as f:
            text = f.read().replace("\\-", "-")
        section = text[text.index(".SH SERVER AND AUTHENTICATION OPTIONS"):]
        accepted_by = section[:section.index(".TP")]
        said = {s for s in SUBCOMMANDS if re.search(r"(^|\s)" + s + r"\b", accepted_by)}
        takes = {s for s in SUBCOMMANDS if "--ca-bundle" in self.help_of(s)}
        self.assertEqual(takes, {"policy", "enroll", "renew", "retrieve-pending", "diagnose"})
        # The sentence names each one that takes them, and says list/completion take none.
        self.assertTrue(takes <= said, accepted_by)
        self.assertIn("list", accepted_by)
        self.assertIn("take none", accepted_by)
        # retrieve-pending has no --url, as the man page says.
        self.assertNotIn("--url", self.help_of("retrieve-pending"))
        self.assertIn("has no\n.B --url", accepted_by)

    def test_help_readme_and_man_say_the_same_about_exit_0(self):
        help_text = cli.run("--help", json_mode=False).stdout
        line = [l for l in help_text.splitlines() if l.strip().startswith("0  success")][0]
        meaning = line.split("success: ", 1)[1].strip()
        with open(os.path.join(ROOT, "README.md")) as f:
            self.assertIn(f"| 0 | success | {meaning} |", f.read())
        self.assertIn(f"0\tsuccess\t{meaning}", man_text())
        for word in ("renewed", "not yet due", "shown", "diagnose"):
            self.assertIn(word, meaning)


class ConfigKeysTest(unittest.TestCase):
    def setUp(self):
        import tempfile
        self._tmp = tempfile.TemporaryDirectory(prefix="certenroll-e2e-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def config(self, profile):
        path = os.path.join(self.tmp, "config.json")
        with open(path, "w") as f:
            json.dump({"default_profile": "p", "profiles": {"p": profile}}, f)
        return path

    def test_an_unknown_key_is_a_usage_error_naming_it(self):
        path = self.config({"urll": "https://cep.example.test/CEP", "username": "u"})
        result = cli.run("--config", path, "--state-dir", os.path.join(self.tmp, "s"), "list")
        self.assertEqual(result.code, 2, repr(result))
        self.assertEqual(result.json["error"]["category"], "usage")
        self.assertIn('"urll"', result.json["error"]["message"])
        self.assertIn(path, result.json["error"]["message"])
        self.assertIn("certenroll-cli: usage error: ", result.stderr)

    def test_keys_of_other_subcommands_are_accepted(self):
        # "renew-before" belongs to renew and list, "template" to enroll: list takes the first
        # and ignores the second, as every subcommand ignores what is another's.
        path = self.config({"url": "https://cep.example.test/CEP", "template": "WebServer",
                            "renew-before": "30d", "random-delay": "10m", "verbose": True})
        result = cli.run("--config", path, "--state-dir", os.path.join(self.tmp, "s"), "list")
        self.assertEqual(result.code, 0, repr(result))

    def test_the_shipped_example_configuration_is_accepted(self):
        with open(os.path.join(ROOT, "packaging", "etc", "README")) as f:
            text = f.read()
        example = text.split("-" * 98 + "\n")[1]
        path = os.path.join(self.tmp, "config.json")
        with open(path, "w") as f:
            f.write(example)
        for profile in json.loads(example)["profiles"]:
            result = cli.run("--config", path, "--profile", profile, "--state-dir",
                             os.path.join(self.tmp, "s"), "list")
            self.assertEqual(result.code, 0, (profile, repr(result)))


class MessagesTest(cli.SandboxTest):
    def test_policy_template_says_how_to_request_sans(self):
        result = self.cli("policy", *self.cep(), *self.user(), "--template", "WebServer",
                          json_mode=False)
        self.assertExit(result, 0)
        san = [l for l in result.stdout.splitlines() if l.strip().startswith("SAN:")][0]
        self.assertNotIn("--san", san)
        for option in ("--dns", "--ip", "--email", "--upn", "--uri"):
            self.assertIn(option, san)
        # Each option it names exists on enroll.
        help_text = cli.run("enroll", "--help", json_mode=False).stdout
        for option in re.findall(r"--[a-z-]+", result.stdout):
            self.assertIn(option, help_text, option)

    def test_renew_cert_without_url_suggests_url(self):
        enrolled = self.cli("enroll", *self.cep(), *self.user(), "--template", "WebServer",
                            "--name", "ext", "--cn", "ext.example.test", "--out-dir",
                            os.path.join(self.tmp, "out"))
        self.assertExit(enrolled, 0)
        files = enrolled.json["files"]
        result = self.cli("renew", "--cert", files["cert"], "--key", files["key"], "--name",
                          "adopted", "--force", *self.user(), "--ca-bundle",
                          self.info["ca_bundle"])
        # The certificate names its template by OID only: the policy (--url) maps it.
        self.assertExit(result, 2)
        self.assertIn("by OID", result.json["error"]["message"])
        self.assertTrue(result.json["error"]["hint"].startswith("pass --url"), repr(result))
        # With the template named, there is still no policy to list the CES: --url again.
        named = self.cli("renew", "--cert", files["cert"], "--key", files["key"], "--name",
                         "adopted", "--template", "WebServer", "--force", *self.user(),
                         "--ca-bundle", self.info["ca_bundle"])
        self.assertExit(named, 2)
        hint = named.json["certificates"][0]["error"]["hint"]
        self.assertTrue(hint.startswith("pass --url"), hint)

    def test_no_enroll_permission_is_exit_4(self):
        result = self.cli("enroll", *self.cep(), *self.user(), "--template", "Restricted",
                          "--cn", "r.example.test")
        self.assertExit(result, 4)
        self.assertEqual(result.json["error"]["category"], "denied")

    def test_each_hresult_is_printed_once(self):
        # The CA denies (forced past the policy's verdict): its fault names the HRESULT.
        text = self.cli("enroll", *self.cep(), *self.user(), "--template", "Restricted",
                        "--cn", "r.example.test", "--force", json_mode=False)
        self.assertExit(text, 4)
        self.assertEqual(text.stderr.count("0x80094012"), 1, text.stderr)
        as_json = self.cli("enroll", *self.cep(), *self.user(), "--template", "Restricted",
                           "--cn", "r.example.test", "--force", "--name", "again")
        self.assertEqual(as_json.stderr.count("0x80094012"), 1, as_json.stderr)
        self.assertEqual(as_json.json["error"]["hresult"], "0x80094012")


if __name__ == "__main__":
    unittest.main()
