using DuckDB.NET.Data;
using Usine.Operations;

namespace Usine.Storage.DuckDb;

public sealed partial class DuckDbStore
{
    private bool _alertTableReady;

    private void EnsureAlertTable()
    {
        if (!_alertTableReady)
        {
            Exec("""
                CREATE TABLE IF NOT EXISTS alert_events (
                    id BIGINT NOT NULL, status VARCHAR NOT NULL, rule VARCHAR NOT NULL, signal VARCHAR NOT NULL, severity VARCHAR NOT NULL,
                    source_id VARCHAR, summary VARCHAR NOT NULL, since TIMESTAMP NOT NULL, at_time TIMESTAMP NOT NULL);
                ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS subject VARCHAR;
                """);
            _alertTableReady = true;
        }
    }

    /// <summary>Keeps alert events, so that the history survives a restart.</summary>
    public async Task AppendAlertEventsAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            EnsureAlertTable();
            using var app = Writer.CreateAppender("alert_events");
            foreach (var e in events)
            {
                app.CreateRow().AppendValue(e.Id).AppendValue(e.Status).AppendValue(e.Rule).AppendValue(e.Signal).AppendValue(e.Severity)
                    .AppendValue(e.Source).AppendValue(e.Summary).AppendValue(e.Since).AppendValue(e.At).AppendValue(e.Subject).EndRow();
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>The newest <paramref name="limit"/> alert events, oldest first.</summary>
    public async Task<IReadOnlyList<AlertEvent>> RecentAlertEventsAsync(int limit, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            EnsureAlertTable();
        }
        finally
        {
            _writeLock.Release();
        }

        using var conn = OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT id, status, rule, signal, severity, source_id, summary, since, at_time, subject FROM (SELECT * FROM alert_events ORDER BY id DESC LIMIT $1) ORDER BY id";
        cmd.Parameters.Add(new DuckDBParameter(limit));
        using var r = cmd.ExecuteReader();
        var list = new List<AlertEvent>();
        while (r.Read())
        {
            list.Add(new AlertEvent(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5),
                r.GetString(6), Utc(r.GetDateTime(7)), Utc(r.GetDateTime(8)), r.IsDBNull(9) ? null : r.GetString(9)));
        }

        return list;
    }
}
