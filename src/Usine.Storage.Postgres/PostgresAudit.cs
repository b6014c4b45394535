namespace Usine.Storage.Postgres;

/// <summary>The audit log, in the <c>audit_log</c> table.</summary>
internal sealed class PostgresAudit(PostgresDatabase db) : PostgresFacet(db), IAuditLog
{
    /// <summary>Writes one entry to the audit log.</summary>
    public async Task AppendAsync(AuditRecord audit, CancellationToken cancellationToken) =>
        await WriteAsync(now =>
        {
            AppendAudit(audit, now);
            return true;
        }, cancellationToken);

    /// <summary>Audit entries, newest first.</summary>
    public IReadOnlyList<AuditEntry> Entries(string? action, DateTime? since, int limit)
    {
        var where = new List<string>();
        var args = new List<object?>();
        if (action is not null)
        {
            args.Add(action);
            where.Add($"action = ${args.Count}");
        }

        if (since is not null)
        {
            args.Add(since.Value);
            where.Add($"\"at\" >= ${args.Count}");
        }

        return Read(
            "SELECT id, \"at\", actor, action, target, detail::text, result FROM audit_log"
            + (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") + $" ORDER BY id DESC LIMIT {Math.Clamp(limit, 1, 100_000)}",
            r => new AuditEntry(r.GetInt64(0), r.GetDateTime(1), r.GetString(2), r.GetString(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.GetString(6)),
            [.. args]);
    }
}
