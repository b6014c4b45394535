using System.Collections.Concurrent;
using Usine.Calendar;
using Usine.Models;
using Usine.Operations;
using Usine.Sources;

namespace Usine.Configuration;

/// <summary>Every model version and source a platform runs with.</summary>
public sealed class UsineDefinitions
{
    /// <summary>The models by name. Concurrent: the API adds models and versions while the engine reads.</summary>
    public ConcurrentDictionary<string, ModelVersions> Models { get; } = new(StringComparer.Ordinal);

    /// <summary>The sources by id. Concurrent: the API adds, replaces and removes sources while the engine reads.</summary>
    public ConcurrentDictionary<string, SourceDefinition> Sources { get; } = new(StringComparer.Ordinal);

    /// <summary>Alert rules from the configuration; when it has no <c>alerts</c> section, <see cref="AlertRule.Defaults"/> run.</summary>
    public List<AlertRule> AlertRules { get; } = [];

    public List<NotifierDefinition> Notifiers { get; } = [];

    /// <summary>True when some file had an <c>alerts</c> section (even an empty one, which turns the defaults off).</summary>
    public bool AlertsConfigured { get; set; }

    /// <summary>
    /// The rules that run: the configured ones, or the defaults. The store-failing rule runs in any case unless
    /// a configured rule watches that signal or the <c>alerts</c> section has no rule (alerting off).
    /// </summary>
    public IReadOnlyList<AlertRule> EffectiveAlertRules =>
        !AlertsConfigured ? AlertRule.Defaults
        : AlertRules.Count == 0 || AlertRules.Any(r => r.Signal == AlertSignal.StoreFailing) ? AlertRules
        : [.. AlertRules, AlertRule.StoreFailingBuiltIn];

    /// <summary>API keys and token issuers from the <c>auth</c> section.</summary>
    public Usine.Security.AuthDefinition Auth { get; } = new();

    /// <summary>Where the <c>auth</c> section was read, so that a second one can name the first.</summary>
    public string? AuthOrigin { get; set; }

    /// <summary>The formats sources may name (<c>format:</c>); JSON and CSV unless the loader was given more.</summary>
    public PayloadFormats Formats { get; init; } = PayloadFormats.Default;

    /// <summary>The shift patterns of the <c>shifts</c> section; empty when it has none.</summary>
    public ShiftCalendar Shifts { get; } = new();

    public void AddModel(DataModel model)
    {
        if (!Models.TryGetValue(model.Name, out var versions))
        {
            Models[model.Name] = versions = new ModelVersions(model.Name);
        }

        versions.Add(model);
    }

    /// <summary>The model version a source writes: its pinned version, otherwise the newest.</summary>
    public DataModel ModelOf(SourceDefinition source)
    {
        if (!Models.TryGetValue(source.Model, out var versions))
        {
            throw new InvalidOperationException($"source '{source.Id}' names model '{source.Model}', which is not defined");
        }

        return source.ModelVersion is { } v
            ? versions.Get(v) ?? throw new InvalidOperationException($"source '{source.Id}' pins {source.Model} version {v}, which is not defined")
            : versions.Latest;
    }
}
