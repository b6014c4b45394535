using System.Globalization;
using System.Reflection;
using DuckDB.NET.Data;

namespace Usine.Storage.DuckDb.Internal;

/// <summary>
/// The schema by versions: the embedded files <c>Migrations/NNNN_name.sql</c>, applied in order, each in its own
/// transaction, and recorded in <c>schema_migrations</c>. A store written before versions existed has no such table:
/// it gets every file, and since the first ones only add what is missing, its tables and rows stay as they are.
/// </summary>
internal static class Migrations
{
    private const string Prefix = "Usine.Storage.DuckDb.Migrations.";

    /// <summary>Every migration this version knows, in order: its version, its name and its statements.</summary>
    public static IReadOnlyList<(int Version, string Name, string Sql)> All { get; } = Load();

    /// <summary>The version a store is at once <see cref="Apply"/> returns.</summary>
    public static int Latest => All[^1].Version;

    /// <summary>Applies to the store, on its writer, the migrations it has not had yet; returns how many.</summary>
    public static int Apply(DuckDbDatabase db)
    {
        db.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)");
        var applied = db.Scalar<long>("SELECT coalesce(max(version), 0) FROM schema_migrations");
        var count = 0;
        foreach (var (version, name, sql) in All.Where(m => m.Version > applied))
        {
            db.Exec("BEGIN TRANSACTION");
            try
            {
                db.Exec(sql);
                db.ExecWith("INSERT INTO schema_migrations VALUES ($1, $2, $3)", version, name, db.Now());
                db.Exec("COMMIT");
            }
            catch (DuckDBException ex)
            {
                db.Rollback();
                throw new UsineException($"the store at {db.Options.DatabasePath} could not be migrated to version {version} ({name}): {ex.Message}");
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
