namespace Usine.Storage;

/// <summary>The audit log: who did what to what, when, with what outcome.</summary>
public interface IAuditLog
{
    Task AppendAsync(AuditRecord audit, CancellationToken cancellationToken);

    /// <summary>The latest entries, newest first, of one action (or all) since a time (or ever).</summary>
    IReadOnlyList<AuditEntry> Entries(string? action, DateTime? since, int limit);
}

/// <summary>An operation to write to the audit log: who did what to what, with its details as JSON and its outcome.</summary>
public sealed record AuditRecord(string Actor, string Action, string Target, string DetailJson, string Result);

/// <summary>One entry of the audit log.</summary>
public sealed record AuditEntry(long Id, DateTime At, string Actor, string Action, string Target, string? DetailJson, string Result);

/// <summary>The dead-letter lifecycle (query, group, edit, discard, replay upserts) and the audit log.</summary>
