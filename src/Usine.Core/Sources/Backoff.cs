namespace Usine.Sources;

/// <summary>Waits between attempts that connectors and the source runner share.</summary>
public static class Backoff
{
    /// <summary>
    /// Exponential delay for the given attempt (1 = first retry), capped, with ±20% jitter so that many
    /// connectors cut off by the same broker restart do not all come back in the same instant.
    /// </summary>
    public static TimeSpan Delay(int attempt, TimeSpan min, TimeSpan max)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ticks = Math.Min(max.Ticks, min.Ticks * Math.Pow(2, exponent));
#pragma warning disable CA5394 // jitter needs no cryptographic randomness
        var jitter = 0.8 + (Random.Shared.NextDouble() * 0.4);
#pragma warning restore CA5394
        return TimeSpan.FromTicks((long)Math.Min(max.Ticks, ticks * jitter));
    }
}
