"""Configuration profiles: the CEP URL, auth and TLS settings written once, used by every command."""

import json
import os

import cli


class ConfigTest(cli.SandboxTest):
    def write_config(self, profiles, default=None):
        path = os.path.join(self.tmp, "config.json")
        doc = {"profiles": profiles}
        if default:
            doc["default_profile"] = default
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def profile(self, **extra):
        alice = self.info["users"]["alice"]
        p = {"url": self.info["cep"]["password"], "username": "alice",
             "password-file": alice["password_file"], "ca-bundle": self.info["ca_bundle"]}
        p.update(extra)
        return p

    def test_profile_supplies_connection_options_to_policy_and_enroll(self):
        config = self.write_config({"lab": self.profile()})
        result = self.cli("--config", config, "--profile", "lab", "policy")
        self.assertExit(result, 0)
        self.assertTrue(result.json["templates"])
        enrolled = self.cli("--config", config, "--profile", "lab", "enroll", "--template",
                            "WebServer", "--cn", "cfg.example.test")
        self.assertExit(enrolled, 0)

    def test_default_profile_and_environment_selection(self):
        bad = self.profile(url="https://127.0.0.1:9/nothing/CEP")
        config = self.write_config({"good": self.profile(), "bad": bad}, default="bad")
        self.assertExit(self.cli("--config", config, "policy"), 7)  # the default profile
        result = self.cli("--config", config, "policy", env={"CERTENROLL_PROFILE": "good"})
        self.assertExit(result, 0)
        result = self.cli("policy", env={"CERTENROLL_CONFIG": config,
                                         "CERTENROLL_PROFILE": "good"})
        self.assertExit(result, 0)

    def test_command_line_wins_over_the_profile(self):
        config = self.write_config({"lab": self.profile(url="https://127.0.0.1:9/nothing/CEP")})
        result = self.cli("--config", config, "--profile", "lab", "policy", "--url",
                          self.info["cep"]["password"])
        self.assertExit(result, 0)

    def test_secrets_and_unknown_profiles_are_refused(self):
        config = self.write_config({"lab": self.profile(password="hunter2")})
        result = self.cli("--config", config, "--profile", "lab", "policy")
        self.assertExit(result, 2)
        self.assertNotIn("hunter2", result.stdout + result.stderr)
        config = self.write_config({"lab": self.profile()})
        result = self.cli("--config", config, "--profile", "nope", "policy")
        self.assertExit(result, 2)
        self.assertIn("nope", result.json["error"]["message"])
        result = self.cli("--config", os.path.join(self.tmp, "missing.json"), "policy")
        self.assertExit(result, 2)
