namespace Usine.Server;

/// <summary>Settings of the HTTP API and UI, read from the <c>Usine:Http</c> section of the configuration.</summary>
public sealed record UsineHttpOptions
{
    /// <summary>The section of the configuration these settings are read from.</summary>
    public const string Section = "Usine:Http";

    /// <summary>Where the HTTP API and UI listen, separated by <c>;</c>. Default <c>http://127.0.0.1:5080</c>.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5080";

    /// <summary>Largest body of an HTTP push, in bytes; larger answers 413. Default 16 MiB. File imports stream and have no limit.</summary>
    public long MaxPushBytes { get; init; } = 16 << 20;

    /// <summary>Time limit of one SQL query of <c>POST /api/sql</c>. Default 30 s.</summary>
    public TimeSpan SqlTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> saying which setting is wrong and how to fix it.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Urls))
        {
            throw new ArgumentException("no address to listen on: --urls http://127.0.0.1:5080, or Usine:Http:Urls");
        }

        if (MaxPushBytes < 1)
        {
            throw new ArgumentException($"the largest HTTP push must be 1 byte or more, not {MaxPushBytes} (Usine:Http:MaxPushBytes; default 16777216)");
        }

        if (SqlTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"the SQL time limit must be positive, not {SqlTimeout} (Usine:Http:SqlTimeout, as 00:00:30)");
        }
    }
}
