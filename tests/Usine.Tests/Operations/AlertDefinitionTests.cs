namespace Usine.Tests.Operations;

public sealed class AlertDefinitionTests
{
    private const string Base = """
        models:
          - name: m
            time: ts
            fields:
              ts: { type: timestamp }
              seq: { type: int }
              name: { type: string }
        sources:
          - id: s1
            plant: p
            kind: http
            model: m
            expect: { every: 30s }
          - id: s2
            plant: p
            kind: http
            model: m

        """;

    [Theory]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: silense\n", 4, "unknown signal 'silense' (expected one of: silence, connector-down")]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: silence\n      sources: [s1, nope]\n", 3, "alert rule 'a' names source 'nope', which is not defined (defined: s1, s2)")]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: silence\n      source: s2\n", 3, "source 's2' for silence, but the source has no 'expect")]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: lag\n      notify: [pager]\n", 3, "notifies 'pager', which is not a notifier")]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: dead-letter-rate\n      above: 150%\n", 5, "must be a fraction between 0 and 1, or a percentage")]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: job-failed\n      after: 2x\n", 5, "'after' applies to the silence signal only")]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: lag\n      severity: urgent\n", 5, "severity 'urgent' is not one of info, warning, critical")]
    [InlineData("alerts:\n  notifiers:\n    - name: hook\n      kind: webhook\n      url: ftp://x\n", 5, "must be an absolute http:// or https:// address")]
    [InlineData("alerts:\n  notifiers:\n    - name: hook\n      kind: webhook\n      url: http://x\n      secret: \"${USINE_TEST_UNSET_SECRET}\"\n", 6, "environment variable USINE_TEST_UNSET_SECRET, which is not set")]
    [InlineData("alerts:\n  rulez: []\n", 2, "unknown key 'rulez' in alerts")]
    [InlineData("alerts:\n  rules:\n    - name: a\n      signal: store-failing\n      source: s1\n", 5, "rule 'a' watches the store, which every source shares: it takes no source")]
    public void A_bad_alert_definition_fails_at_start_naming_the_file_and_line(string alerts, int lineInAlerts, string problem)
    {
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(Base + alerts, "usine.yaml"));

        Assert.Equal("usine.yaml", ex.File);
        Assert.Equal(Base.Split('\n').Length - 1 + lineInAlerts, ex.Line);
        Assert.Contains(problem, ex.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Rules_and_notifiers_load_with_their_settings_and_defaults_apply_only_without_an_alerts_section()
    {
        Environment.SetEnvironmentVariable("USINE_TEST_WEBHOOK_SECRET", "s3cret");
        var defs = DefinitionLoader.LoadText(Base + """
            alerts:
              notifiers:
                - { name: ops, kind: webhook, url: "https://hooks.example/usine", secret: "${USINE_TEST_WEBHOOK_SECRET}", attempts: 3, timeout: 5s }
              rules:
                - { name: quiet, signal: silence, source: s1, after: 2x, severity: critical, notify: [ops] }
                - { name: rejects, signal: dead-letter-rate, above: 10%, window: 10m, min: 50 }
                - { name: slow, signal: lag, above: 2m, for: 1m }
                - { name: down, signal: connector-down }
            """, "usine.yaml");

        var n = Assert.Single(defs.Notifiers);
        Assert.Equal(("ops", NotifierKind.Webhook, "s3cret", 3, TimeSpan.FromSeconds(5)), (n.Name, n.Kind, n.Secret, n.Attempts, n.Timeout));
        var rules = defs.EffectiveAlertRules;
        Assert.Equal(["quiet", "rejects", "slow", "down", "store-failing"], rules.Select(r => r.Name));
        Assert.Equal((2.0, AlertSeverity.Critical, "s1"), (rules[0].AfterCadences, rules[0].Severity, rules[0].Sources.Single()));
        Assert.Equal((0.1, TimeSpan.FromMinutes(10), 50), (rules[1].Above, rules[1].Window, rules[1].MinMessages));
        Assert.Equal((120.0, TimeSpan.FromMinutes(1)), (rules[2].Above, rules[2].For));
        Assert.Equal(TimeSpan.FromSeconds(30), rules[3].For);
        Assert.Equal("usine.yaml:" + (Base.Split('\n').Length + 4), rules[0].Origin);

        Assert.Equal(AlertRule.Defaults, DefinitionLoader.LoadText(Base, "usine.yaml").EffectiveAlertRules);
        Assert.Empty(DefinitionLoader.LoadText(Base + "alerts:\n", "usine.yaml").EffectiveAlertRules);
    }

    [Fact]
    public void The_store_failing_alert_runs_whatever_the_rules_unless_a_rule_of_its_signal_replaces_it_or_alerting_is_off()
    {
        var defaults = DefinitionLoader.LoadText(Base, "usine.yaml").EffectiveAlertRules;
        Assert.Contains(AlertRule.StoreFailingBuiltIn, defaults);

        var others = DefinitionLoader.LoadText(Base + "alerts:\n  rules:\n    - { name: slow, signal: lag }\n", "usine.yaml").EffectiveAlertRules;
        Assert.Equal(["slow", "store-failing"], others.Select(r => r.Name));
        Assert.Equal((AlertSignal.StoreFailing, AlertSeverity.Critical), (others[1].Signal, others[1].Severity));

        var own = DefinitionLoader.LoadText(Base + "alerts:\n  rules:\n    - { name: disk, signal: store-failing, severity: warning, for: 1m }\n", "usine.yaml").EffectiveAlertRules;
        var rule = Assert.Single(own);
        Assert.Equal(("disk", AlertSeverity.Warning, TimeSpan.FromMinutes(1)), (rule.Name, rule.Severity, rule.For));
    }

    [Fact]
    public void A_sequence_field_must_be_an_int_of_the_model()
    {
        var ok = DefinitionLoader.LoadText(Base.Replace("      name: { type: string }\n", "      name: { type: string }\n    sequence: { field: seq, by: [name] }\n", StringComparison.Ordinal));
        Assert.Equal(("seq", "name"), (ok.Models["m"].Latest.Sequence!.Field, ok.Models["m"].Latest.Sequence!.By.Single()));

        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(
            Base.Replace("      name: { type: string }\n", "      name: { type: string }\n    sequence: name\n", StringComparison.Ordinal), "m.yaml"));
        Assert.Contains("sequence field 'name' must have type int, not string", ex.Message, StringComparison.Ordinal);
        Assert.Equal(8, ex.Line);
    }
}
