using System.Globalization;
using System.Numerics;
using DuckDB.NET.Data;
using Usine.Pipeline;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>What the facets of the DuckDB store share: the database, and the helpers of their queries.</summary>
internal abstract class DuckDbFacet(DuckDbDatabase db)
{
    protected DuckDbDatabase Db { get; } = db;

    protected DuckDBConnection Writer => Db.Writer;

    /// <summary>A new connection for reading; it sees what was committed when each query starts.</summary>
    protected DuckDBConnection OpenReader() => Db.OpenReader();

    protected List<T> Read<T>(string sql, Func<DuckDBDataReader, T> map, params object?[] args) => Db.Read(sql, map, args);

    protected long Count(string sql, params object?[] args) => Db.Count(sql, args);

    protected DateTime Now() => Db.Now();

    protected void Exec(string sql) => Db.Exec(sql);

    protected int ExecWith(string sql, params object[] parameters) => Db.ExecWith(sql, parameters);

    protected int ExecCount(string sql) => Db.ExecCount(sql);

    protected T Scalar<T>(string sql) => Db.Scalar<T>(sql);

    protected Task<T> WriteAsync<T>(Func<DateTime, T> write, CancellationToken cancellationToken) => Db.WriteAsync(write, cancellationToken);

    protected void AppendAudit(AuditRecord audit, DateTime now) => Db.AppendAudit(audit, now);

    protected void Rollback() => Db.Rollback();

    protected Exception WriteFault(Exception ex) => Db.WriteFault(ex);

    protected static bool IsDiskFull(Exception ex) => DuckDbDatabase.IsDiskFull(ex);

    internal static DeadLetterRow MapDeadLetter(DuckDBDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.GetString(5), r.GetString(6), r.GetInt32(7),
        r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetInt32(9),
        Utc(r.GetDateTime(10)), Utc(r.GetDateTime(11)), r.IsDBNull(12) ? null : r.GetString(12), r.IsDBNull(13) ? null : r.GetString(13),
        r.IsDBNull(14) ? 0 : r.GetInt64(14), r.IsDBNull(15) ? null : ReadBlob(r, 15));

    protected ModelTable Table(string model) =>
        Db.Tables.TryGetValue(model, out var t) ? t : throw new KeyNotFoundException($"no model named '{model}'");

    internal static string SelectColumns(ModelTable t) =>
        string.Join(", ", ExploreSchema.SystemColumns.Select(c => c.Name).Concat(t.Columns.Select(c => Sql.Quote(c.Name))));

    /// <summary>
    /// Runs a query on the calling thread: these reads take milliseconds, and handing them to another pool
    /// thread cost more than that on a loaded two-core machine. A cancelled request cancels the query.
    /// </summary>
    protected List<IReadOnlyDictionary<string, object?>> ReadRows(string sql, SqlArgs args, CancellationToken cancellationToken)
    {
        using var conn = OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        args.Bind(cmd);
        using var cancel = cancellationToken.Register(() =>
        {
            try
            {
                cmd.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The query finished in between.
            }
        });
        using var r = cmd.ExecuteReader();
        var names = Enumerable.Range(0, r.FieldCount).Select(r.GetName).ToArray();
        var rows = new List<IReadOnlyDictionary<string, object?>>();
        while (r.Read())
        {
            var row = new Dictionary<string, object?>(names.Length, StringComparer.Ordinal);
            for (var i = 0; i < names.Length; i++)
            {
                row[names[i]] = r.IsDBNull(i) ? null : Plain(r.GetValue(i));
            }

            rows.Add(row);
        }

        return rows;
    }

    internal static byte[] ReadBlob(DuckDBDataReader r, int i)
    {
        using var s = r.GetStream(i);
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    internal static AvatarRow MapAvatar(DuckDBDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), Utc(r.GetDateTime(5)));

    internal static DateTime Utc(DateTime t) => DateTime.SpecifyKind(t, DateTimeKind.Utc);

    protected Usine.Configuration.UsineDefinitions Defs => Db.Definitions ?? throw new InvalidOperationException("the store is not initialized");

    /// <summary>Values JSON can carry as they are; the rest as text.</summary>
    internal static object? Plain(object v) => v switch
    {
        string or bool or int or long or short or byte or sbyte or uint or ushort or float or double or decimal => v,
        ulong u => u,
        DateTime dt => DateTime.SpecifyKind(dt, DateTimeKind.Utc),
        DateTimeOffset dto => dto.UtcDateTime,
        Guid g => g.ToString(),
        BigInteger b when b >= long.MinValue && b <= long.MaxValue => (long)b,
        BigInteger b => b.ToString(CultureInfo.InvariantCulture),
        byte[] bytes => Convert.ToBase64String(bytes),
        System.Collections.IDictionary => v,
        System.Collections.IEnumerable e => e.Cast<object?>().Select(x => x is null ? null : Plain(x)).ToList(),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture),
    };

    internal static DateTime Hour(DateTime t) => new(t.Ticks - (t.Ticks % TimeSpan.TicksPerHour), DateTimeKind.Utc);

    internal static void Exec(DuckDBConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}

/// <summary>Binds the shared <see cref="SqlArgs"/> with DuckDB's driver.</summary>
internal static class DuckDbSqlArgs
{
    public static void Bind(this SqlArgs args, DuckDBCommand cmd)
    {
        foreach (var v in args.Values)
        {
            cmd.Parameters.Add(new DuckDBParameter(v ?? DBNull.Value));
        }
    }
}
