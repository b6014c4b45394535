using Npgsql;
using Usine.Storage.Postgres;

namespace Usine.Tests.Storage.Postgres;

/// <summary>
/// The PostgreSQL server started by <c>scripts/services.sh start</c>, at <c>USINE_TEST_POSTGRES</c> (an Npgsql
/// connection string; the script's loopback port by default). Each user takes schemas of its own under a prefix and
/// drops them when done, so that test classes never meet.
/// </summary>
internal sealed class PostgresServer
{
    public static string ConnectionString { get; } =
        Environment.GetEnvironmentVariable("USINE_TEST_POSTGRES") is { Length: > 0 } cs ? cs : "Host=127.0.0.1;Port=15432;Username=postgres;Database=postgres";

    /// <summary>The prefix of every schema this user makes, and the application name of its stores' connections: unique per user, lower case, a valid identifier.</summary>
    public string Prefix { get; } = "t" + Guid.NewGuid().ToString("N")[..12] + "_";

    public PostgresStoreOptions Options(string name, TimeProvider? time = null) => new()
    {
        ConnectionString = ConnectionString + ";Application Name=" + Prefix,
        Schema = Prefix + name,
        Time = time ?? TimeProvider.System,
    };

    public static async Task<NpgsqlConnection> ConnectAsync()
    {
        try
        {
            var conn = new NpgsqlConnection(ConnectionString);
            await conn.OpenAsync();
            return conn;
        }
        catch (NpgsqlException ex)
        {
            throw new InvalidOperationException($"no PostgreSQL server at '{ConnectionString}': run `scripts/services.sh start` first (or set USINE_TEST_POSTGRES): {ex.Message}", ex);
        }
    }

    /// <summary>Drops every schema of this user.</summary>
    public async Task DropSchemasAsync()
    {
        await using var conn = await ConnectAsync();
        var schemas = new List<string>();
        await using (var cmd = new NpgsqlCommand("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = Prefix });
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                schemas.Add(r.GetString(0));
            }
        }

        foreach (var schema in schemas)
        {
            await using var drop = new NpgsqlCommand($"DROP SCHEMA \"{schema}\" CASCADE", conn);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
