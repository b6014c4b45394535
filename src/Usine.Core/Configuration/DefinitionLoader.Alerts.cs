using System.Globalization;
using Usine.Operations;
using YamlDotNet.RepresentationModel;

namespace Usine.Configuration;

public static partial class DefinitionLoader
{
    private static readonly string[] AlertsKeys = ["rules", "notifiers"];
    private static readonly string[] RuleKeys = ["name", "signal", "source", "sources", "severity", "for", "after", "above", "window", "min", "notify", "description"];
    private static readonly string[] NotifierKeys = ["name", "kind", "url", "secret", "attempts", "timeout"];

    private static void ReadAlerts(Ctx ctx, YamlNode node, UsineDefinitions defs)
    {
        defs.AlertsConfigured = true;
        if (node is YamlScalarNode { Value: null or "" })
        {
            return;
        }

        var map = ctx.Map(node, "alerts");
        ctx.OnlyKeys(map, AlertsKeys, "alerts");
        if (ctx.Opt(map, "notifiers") is { } nn)
        {
            foreach (var n in ctx.Seq(nn, "alerts.notifiers"))
            {
                var notifier = ReadNotifier(ctx, n);
                if (defs.Notifiers.Any(x => x.Name == notifier.Name))
                {
                    throw ctx.Error(n, $"two notifiers are named '{notifier.Name}'");
                }

                defs.Notifiers.Add(notifier);
            }
        }

        if (ctx.Opt(map, "rules") is { } rn)
        {
            foreach (var r in ctx.Seq(rn, "alerts.rules"))
            {
                var rule = ReadRule(ctx, r);
                if (defs.AlertRules.Any(x => x.Name == rule.Name))
                {
                    throw ctx.Error(r, $"two alert rules are named '{rule.Name}'");
                }

                defs.AlertRules.Add(rule);
            }
        }
    }

    private static AlertRule ReadRule(Ctx ctx, YamlNode node)
    {
        var map = ctx.Map(node, "an alert rule");
        ctx.OnlyKeys(map, RuleKeys, "an alert rule");
        var name = ctx.Str(ctx.Req(map, "name", "an alert rule"), "name");
        var signalNode = ctx.Req(map, "signal", $"alert rule '{name}'");
        var signalText = ctx.Str(signalNode, "signal");
        var signal = AlertRule.ParseSignal(signalText)
            ?? throw ctx.Error(signalNode, $"unknown signal '{signalText}' (expected one of: {string.Join(", ", Enum.GetValues<AlertSignal>().Select(AlertRule.SignalName))})");

        var sources = new List<string>();
        if (ctx.Opt(map, "source") is { } one)
        {
            sources.Add(ctx.Str(one, "source"));
        }

        if (ctx.Opt(map, "sources") is { } many)
        {
            sources.AddRange(ctx.Seq(many, "sources").Select(s => ctx.Str(s, "sources")));
        }

        if (signal is AlertSignal.StoreFailing or AlertSignal.ConsumerLag && sources.Count > 0)
        {
            throw ctx.Error(ctx.Opt(map, "source") ?? ctx.Opt(map, "sources")!, $"rule '{name}' watches {(signal == AlertSignal.StoreFailing ? "the store" : "the cluster's processors")}, which every source shares: it takes no source or sources");
        }

        var rule = new AlertRule
        {
            Name = name,
            Signal = signal,
            Sources = sources,
            Origin = ctx.Where(node),
            For = signal == AlertSignal.ConnectorDown ? TimeSpan.FromSeconds(30) : TimeSpan.Zero,
        };

        if (ctx.Opt(map, "severity") is { } sev)
        {
            rule = rule with { Severity = ctx.Enum<AlertSeverity>(sev, "severity") };
        }

        if (ctx.Opt(map, "for") is { } forNode)
        {
            rule = rule with { For = Duration(ctx, forNode, "for", allowZero: true) };
        }

        if (ctx.Opt(map, "window") is { } windowNode)
        {
            rule = rule with { Window = Duration(ctx, windowNode, "window", allowZero: false) };
        }

        if (ctx.Opt(map, "min") is { } minNode)
        {
            rule = rule with { MinMessages = ctx.Int(minNode, "min") };
        }

        if (ctx.Opt(map, "notify") is { } notifyNode)
        {
            rule = rule with { Notify = [.. ctx.Seq(notifyNode, "notify").Select(n => ctx.Str(n, "notify"))] };
        }

        var after = ctx.Opt(map, "after");
        if (after is not null)
        {
            if (signal != AlertSignal.Silence)
            {
                throw ctx.Error(after, $"'after' applies to the silence signal only; rule '{name}' watches {signalText}");
            }

            var text = ctx.Str(after, "after").Trim();
            if (text.EndsWith('x') && double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var cadences) && cadences > 0)
            {
                rule = rule with { AfterCadences = cadences };
            }
            else
            {
                rule = rule with { After = ParseDuration(text) ?? throw ctx.Error(after, $"after '{text}' must be a duration such as 90s or a multiple of the expected cadence such as 2x") };
            }
        }

        var above = ctx.Opt(map, "above");
        switch (signal)
        {
            case AlertSignal.DeadLetterRate:
                var rate = above is null ? 0.05 : Fraction(ctx, above);
                rule = rule with { Above = rate, Window = rule.Window ?? TimeSpan.FromMinutes(5) };
                break;
            case AlertSignal.Lag:
                var lag = above is null ? TimeSpan.FromSeconds(60) : Duration(ctx, above, "above", allowZero: false);
                rule = rule with { Above = lag.TotalSeconds };
                break;
            case AlertSignal.ConsumerLag:
                var messages = above is null ? 100_000 : ctx.Int(above, "above");
                if (messages < 0)
                {
                    throw ctx.Error(above!, $"'above' of rule '{name}' is a number of messages, 0 or more");
                }

                rule = rule with { Above = messages };
                break;
            default:
                if (above is not null)
                {
                    throw ctx.Error(above, $"'above' applies to dead-letter-rate, lag and consumer-lag only; rule '{name}' watches {signalText}");
                }

                break;
        }

        return rule;
    }

    private static double Fraction(Ctx ctx, YamlNode node)
    {
        var text = ctx.Str(node, "above").Trim();
        var percent = text.EndsWith('%');
        if (double.TryParse(percent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
        {
            v = percent ? v / 100 : v;
            if (v is > 0 and <= 1)
            {
                return v;
            }
        }

        throw ctx.Error(node, $"above '{text}' must be a fraction between 0 and 1, or a percentage such as 5%");
    }

    private static TimeSpan Duration(Ctx ctx, YamlNode node, string what, bool allowZero)
    {
        var text = ctx.Str(node, what);
        if (allowZero && text.Trim() is "0" or "0s")
        {
            return TimeSpan.Zero;
        }

        return ParseDuration(text) ?? throw ctx.Error(node, $"{what} '{text}' must be a duration such as 30s, 5m or 1h");
    }

    private static NotifierDefinition ReadNotifier(Ctx ctx, YamlNode node)
    {
        var map = ctx.Map(node, "a notifier");
        ctx.OnlyKeys(map, NotifierKeys, "a notifier");
        var name = ctx.Str(ctx.Req(map, "name", "a notifier"), "name");
        var kind = ctx.Enum<NotifierKind>(ctx.Req(map, "kind", $"notifier '{name}'"), "kind");
        var n = new NotifierDefinition { Name = name, Kind = kind, Origin = ctx.Where(node) };
        if (kind == NotifierKind.Log)
        {
            foreach (var key in new[] { "url", "secret", "attempts", "timeout" })
            {
                if (ctx.Opt(map, key) is { } extra)
                {
                    throw ctx.Error(extra, $"'{key}' applies to webhook notifiers only");
                }
            }

            return n;
        }

        var urlNode = ctx.Req(map, "url", $"webhook notifier '{name}'");
        var url = ctx.Str(urlNode, "url");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw ctx.Error(urlNode, $"url '{url}' must be an absolute http:// or https:// address");
        }

        n = n with { Url = uri };
        if (ctx.Opt(map, "secret") is { } secretNode)
        {
            // Secrets stay out of the file: ${NAME} reads the environment variable NAME at start-up.
            var secret = Internal.EnvironmentReferences.Expand(ctx.Str(secretNode, "secret"), name =>
                ctx.Error(secretNode, $"secret refers to the environment variable {name}, which is not set"));
            n = n with { Secret = secret };
        }

        if (ctx.Opt(map, "attempts") is { } attempts)
        {
            var a = ctx.Int(attempts, "attempts");
            n = a is >= 1 and <= 100 ? n with { Attempts = a } : throw ctx.Error(attempts, "attempts must be between 1 and 100");
        }

        if (ctx.Opt(map, "timeout") is { } timeout)
        {
            n = n with { Timeout = Duration(ctx, timeout, "timeout", allowZero: false) };
        }

        return n;
    }

    /// <summary>Checks of alert rules that need every source and notifier loaded.</summary>
    private static void CheckAlerts(UsineDefinitions defs)
    {
        foreach (var rule in defs.AlertRules)
        {
            var where = rule.Origin ?? rule.Name;
            foreach (var id in rule.Sources)
            {
                if (!defs.Sources.TryGetValue(id, out var source))
                {
                    throw Fail(where, $"alert rule '{rule.Name}' names source '{id}', which is not defined (defined: {Names(defs.Sources.Keys)})");
                }

                if (rule.Signal == AlertSignal.Silence && rule.After is null && source.ExpectEvery is null)
                {
                    throw Fail(where, $"alert rule '{rule.Name}' watches source '{id}' for silence, but the source has no 'expect: {{ every: ... }}'; add one, or give the rule 'after: 5m'");
                }
            }

            foreach (var n in rule.Notify)
            {
                if (!defs.Notifiers.Any(x => x.Name == n))
                {
                    throw Fail(where, $"alert rule '{rule.Name}' notifies '{n}', which is not a notifier (defined: {Names(defs.Notifiers.Select(x => x.Name))})");
                }
            }
        }
    }
}
