using System.Globalization;
using Npgsql;

namespace Usine.Storage.Postgres.Internal;

/// <summary>
/// The schema by versions: the embedded files <c>Migrations/NNNN_name.sql</c>, applied in order, each in its own
/// transaction, and recorded in <c>schema_migrations</c>. Processes of a cluster that start together take turns
/// (an advisory lock), so each file runs once.
/// </summary>
internal static class Migrations
{
    private const string Prefix = "Usine.Storage.Postgres.Migrations.";

    /// <summary>Every migration this version knows, in order: its version, its name and its statements.</summary>
    public static IReadOnlyList<(int Version, string Name, string Sql)> All { get; } = Load();

    /// <summary>The version a store is at once <see cref="Apply"/> returns.</summary>
    public static int Latest => All[^1].Version;

    /// <summary>Applies the migrations the store has not had yet, on <paramref name="conn"/>, which holds the schema lock; returns how many.</summary>
    public static int Apply(PostgresDatabase db, NpgsqlConnection conn)
    {
        PostgresDatabase.Exec(conn, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)");
        long applied;
        using (var cmd = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM schema_migrations", conn))
        {
            applied = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        var count = 0;
        foreach (var (version, name, sql) in All.Where(m => m.Version > applied))
        {
            using var tx = conn.BeginTransaction();
            try
            {
                PostgresDatabase.Exec(conn, sql);
                PostgresDatabase.Exec(conn, "INSERT INTO schema_migrations VALUES ($1, $2, $3)", version, name, db.Now());
                tx.Commit();
            }
            catch (PostgresException ex)
            {
                tx.Rollback();
                throw new UsineException($"the store in schema '{db.Options.Schema}' could not be migrated to version {version} ({name}): {ex.MessageText}");
            }

            count++;
        }

        return count;
    }

    private static List<(int, string, string)> Load()
    {
        var assembly = typeof(Migrations).Assembly;
        var found = new List<(int, string, string)>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var name = resource[Prefix.Length..^".sql".Length];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            found.Add((version, name, reader.ReadToEnd()));
        }

        found.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return found;
    }
}
