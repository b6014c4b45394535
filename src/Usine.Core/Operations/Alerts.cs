namespace Usine.Operations;

/// <summary>An alert rule that currently fires.</summary>
/// <param name="Rule">The rule's name.</param>
/// <param name="Severity">As the rule states it (for example warning, critical).</param>
/// <param name="Source">The source it fires for, when the rule is about one source.</param>
/// <param name="Summary">One line a person reads.</param>
/// <param name="Since">When it started to fire, UTC.</param>
public sealed record FiringAlert(string Rule, string Severity, string? Source, string Summary, DateTime Since);

/// <summary>What the alerting side shows to status pages: the alerts firing now.</summary>
public interface IAlertView
{
    IReadOnlyList<FiringAlert> Firing { get; }
}
