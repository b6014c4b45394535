namespace Usine.Simulator;

/// <summary>
/// What the simulator has produced, so that a demo or a test can compare it with what the platform stored.
/// Updated by the simulator's own loop and read from any thread.
/// </summary>
public sealed class SimulatorCounters
{
    private static readonly int KindCount = Enum.GetValues<MessageKind>().Length;
    private static readonly int BadCount = Enum.GetValues<BadKind>().Length;

    private readonly long[] _generated = new long[KindCount];
    private readonly long[] _bad = new long[BadCount];
    private readonly long[] _energyBad = new long[BadCount];
    private long _published;
    private long _publishFailures;
    private long _energyFiles;
    private long _energyRows;

    /// <summary>MQTT messages generated, all kinds.</summary>
    public long Generated => Sum(_generated);

    /// <summary>MQTT messages the broker acknowledged.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Publish attempts that failed (and were retried after reconnecting).</summary>
    public long PublishFailures => Interlocked.Read(ref _publishFailures);

    /// <summary>Energy files written to the drop folder.</summary>
    public long EnergyFiles => Interlocked.Read(ref _energyFiles);

    /// <summary>Data rows in the energy files, good and bad.</summary>
    public long EnergyRows => Interlocked.Read(ref _energyRows);

    /// <summary>Deliberately bad MQTT messages generated, all kinds.</summary>
    public long BadMessages => Sum(_bad);

    /// <summary>Deliberately bad energy rows written, all kinds.</summary>
    public long BadEnergyRows => Sum(_energyBad);

    public long GeneratedOf(MessageKind kind) => Interlocked.Read(ref _generated[(int)kind]);

    public long BadMessagesOf(BadKind kind) => Interlocked.Read(ref _bad[(int)kind]);

    public long BadEnergyRowsOf(BadKind kind) => Interlocked.Read(ref _energyBad[(int)kind]);

    internal void Count(SimulatedMessage m)
    {
        Interlocked.Increment(ref _generated[(int)m.Kind]);
        if (m.Bad is { } bad)
        {
            Interlocked.Increment(ref _bad[(int)bad]);
        }
    }

    internal void Count(EnergyFile file)
    {
        Interlocked.Increment(ref _energyFiles);
        Interlocked.Add(ref _energyRows, file.RowBad.Count);
        foreach (var bad in file.RowBad)
        {
            if (bad is { } b)
            {
                Interlocked.Increment(ref _energyBad[(int)b]);
            }
        }
    }

    internal void CountPublished() => Interlocked.Increment(ref _published);

    internal void CountPublishFailure() => Interlocked.Increment(ref _publishFailures);

    private static long Sum(long[] counts)
    {
        long sum = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            sum += Interlocked.Read(ref counts[i]);
        }

        return sum;
    }
}
