using DuckDB.NET.Data;

namespace Usine.Storage.DuckDb;

public sealed partial class DuckDbStore
{
    /// <summary>
    /// A small write of the store's own, committed like a batch: what tells, while no batch is being retried,
    /// that the store commits again (space came back on a full disk). It replaces one row of 64 KiB, so that it
    /// needs room in the log like a real batch rather than a few bytes that might still fit.
    /// </summary>
    public async Task ProbeWriteAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            Exec("BEGIN TRANSACTION");
            try
            {
                Exec("CREATE TABLE IF NOT EXISTS store_probe (id INTEGER PRIMARY KEY, written_at TIMESTAMP NOT NULL, pad BLOB)");
                ExecWith("INSERT OR REPLACE INTO store_probe VALUES (1, $1, $2)", Now(), System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 * 1024));
                Exec("COMMIT");
            }
            catch (Exception ex)
            {
                Rollback();
                throw WriteFault(ex);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// A failed write as the operator should read it: a full filesystem says so, since it is fixed outside Usine;
    /// any other failure is left as the store raised it. Paths read DATA/... rather than where the data directory
    /// is: the reason reaches health, which anyone may ask, and callers kept to some plants.
    /// </summary>
    private Exception WriteFault(Exception ex) =>
        IsDiskFull(ex)
            ? new UsineException($"the data directory's filesystem is full: {ex.Message.Replace(Path.GetFullPath(_options.DataDirectory).TrimEnd(Path.DirectorySeparatorChar), "DATA", StringComparison.Ordinal)} "
                + "(free space on the filesystem of the data directory; nothing of the batch was stored)", isTransient: true, ex)
            : ex;

    private static bool IsDiskFull(Exception ex)
    {
        for (var e = (Exception?)ex; e is not null; e = e.InnerException)
        {
            // ENOSPC as DuckDB words it, or as .NET does for its own writes.
            if (e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase) || (e is IOException && (e.HResult & 0xFFFF) == 28))
            {
                return true;
            }
        }

        return false;
    }

    private void Rollback()
    {
        try
        {
            Exec("ROLLBACK");
        }
        catch (DuckDBException)
        {
            // The transaction may already be aborted by the failure itself.
        }
    }
}
