"""The command line itself: help, version, usage errors and their exit codes."""

import unittest

import cli


class CommandLineTest(unittest.TestCase):
    def test_help_lists_the_subcommands(self):
        result = cli.run("--help", json_mode=False)
        self.assertEqual(result.code, 0, repr(result))
        for sub in ("policy", "enroll", "renew", "retrieve-pending"):
            self.assertIn(sub, result.stdout)
        self.assertIn("Exit status", result.stdout)

    def test_subcommand_help(self):
        result = cli.run("enroll", "--help", json_mode=False)
        self.assertEqual(result.code, 0, repr(result))
        self.assertIn("--template", result.stdout)
        self.assertIn("--password-file", result.stdout)
        self.assertNotIn("--password ", result.stdout)  # never a password on argv

    def test_version(self):
        result = cli.run("--version", json_mode=False)
        self.assertEqual(result.code, 0)
        self.assertRegex(result.stdout, r"^certenroll-cli \d+\.\d+\.\d+")

    def test_version_with_json_is_a_json_document(self):
        text = cli.run("--version", json_mode=False).stdout.split()[1]
        for args in (["--version"], ["--version", "--json"]):  # --json before and after
            result = cli.run(*args)
            self.assertEqual(result.code, 0, repr(result))
            self.assertEqual(result.json, {"name": "certenroll-cli", "version": text})

    def test_unknown_option_is_a_usage_error_with_json(self):
        result = cli.run("policy", "--no-such-flag")
        self.assertEqual(result.code, 2, repr(result))
        self.assertEqual(result.json["status"], "error")
        self.assertEqual(result.json["error"]["category"], "usage")
        self.assertEqual(result.json["exit_code"], 2)
        self.assertIn("no-such-flag", result.stderr)

    def test_missing_subcommand_is_a_usage_error(self):
        result = cli.run(json_mode=False)
        self.assertEqual(result.code, 2, repr(result))

    def test_password_without_file_or_terminal_names_the_options(self):
        result = cli.run("policy", "--url", "https://127.0.0.1:9/CEP", "--username", "alice")
        self.assertEqual(result.code, 2, repr(result))
        self.assertIn("--password-file", result.json["error"]["hint"])
        self.assertIn("CERTENROLL_PASSWORD", result.json["error"]["hint"])


if __name__ == "__main__":
    unittest.main()
