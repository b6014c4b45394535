using System.Globalization;
using System.Numerics;
using Npgsql;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>What the facets of the PostgreSQL store share: the database, and the helpers of their queries.</summary>
internal abstract class PostgresFacet(PostgresDatabase db)
{
    protected PostgresDatabase Db { get; } = db;

    protected NpgsqlConnection Writer => Db.Writer;

    /// <summary>A new pooled connection for reading; it sees what was committed when each query starts.</summary>
    protected NpgsqlConnection OpenReader() => Db.OpenReader();

    protected List<T> Read<T>(string sql, Func<NpgsqlDataReader, T> map, params object?[] args) => Db.Read(sql, map, args);

    protected long Count(string sql, params object?[] args) => Db.Count(sql, args);

    protected DateTime Now() => Db.Now();

    /// <summary>Runs a statement on the writer, and says how many rows it changed.</summary>
    protected int Exec(string sql, params object?[] parameters) => PostgresDatabase.Exec(Writer, sql, parameters);

    protected T Scalar<T>(string sql, params object?[] parameters) => PostgresDatabase.Scalar<T>(Writer, sql, parameters);

    protected Task<T> WriteAsync<T>(Func<DateTime, T> write, CancellationToken cancellationToken) => Db.WriteAsync(write, cancellationToken);

    protected void AppendAudit(AuditRecord audit, DateTime now) => Db.AppendAudit(audit, now);

    protected Usine.Configuration.UsineDefinitions Defs => Db.Definitions ?? throw new InvalidOperationException("the store is not initialized");

    protected ModelTable Table(string model) =>
        Db.Tables.TryGetValue(model, out var t) ? t : throw new KeyNotFoundException($"no model named '{model}'");

    internal static DeadLetterRow MapDeadLetter(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.GetString(5), r.GetString(6), r.GetInt32(7),
        r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetInt32(9),
        r.GetDateTime(10), r.GetDateTime(11), r.IsDBNull(12) ? null : r.GetString(12), r.IsDBNull(13) ? null : r.GetString(13),
        r.IsDBNull(14) ? 0 : r.GetInt64(14), r.IsDBNull(15) ? null : (byte[])r.GetValue(15));

    internal static AvatarRow MapAvatar(NpgsqlDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), r.GetDateTime(5));

    internal static string SelectColumns(ModelTable t) =>
        string.Join(", ", ExploreSchema.SystemColumns.Select(c => c.Name).Concat(t.Columns.Select(c => Sql.Quote(c.Name))));

    /// <summary>Runs a query and returns its rows as name-value maps; a cancelled request cancels the query.</summary>
    protected async Task<List<IReadOnlyDictionary<string, object?>>> ReadRowsAsync(string sql, SqlArgs args, CancellationToken cancellationToken)
    {
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(sql, conn);
        args.Bind(cmd);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        var names = Enumerable.Range(0, r.FieldCount).Select(r.GetName).ToArray();
        var rows = new List<IReadOnlyDictionary<string, object?>>();
        while (await r.ReadAsync(cancellationToken))
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

    /// <summary>Values JSON can carry as they are; the rest as text.</summary>
    internal static object? Plain(object v) => v switch
    {
        string or bool or int or long or short or byte or sbyte or uint or ushort or float or double => v,
        decimal d when d == decimal.Truncate(d) && d >= long.MinValue && d <= long.MaxValue => (long)d,
        decimal d => (double)d,
        DateTime dt => DateTime.SpecifyKind(dt, DateTimeKind.Utc),
        DateTimeOffset dto => dto.UtcDateTime,
        Guid g => g.ToString(),
        BigInteger b => b.ToString(CultureInfo.InvariantCulture),
        byte[] bytes => Convert.ToBase64String(bytes),
        System.Collections.IDictionary => v,
        System.Collections.IEnumerable e => e.Cast<object?>().Select(x => x is null ? null : Plain(x)).ToList(),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture),
    };

    internal static DateTime Hour(DateTime t) => new(t.Ticks - (t.Ticks % TimeSpan.TicksPerHour), DateTimeKind.Utc);
}

/// <summary>Binds the shared <see cref="SqlArgs"/> with Npgsql.</summary>
internal static class PostgresSqlArgs
{
    public static void Bind(this SqlArgs args, NpgsqlCommand cmd) => PostgresDatabase.Bind(cmd, args.Values);
}
