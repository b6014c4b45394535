namespace Usine.Benchmarks.Workload;

/// <summary>Settings of the reference workload generator.</summary>
public sealed record WorkloadOptions
{
    /// <summary>Folder the four NDJSON files are written into, created if missing. Required.</summary>
    public required string Directory { get; init; }

    /// <summary>Messages in all files together, split 40/20/20/20 between screwing, states, energy and process values. Default 2,000,000.</summary>
    public long Messages { get; init; } = 2_000_000;

    /// <summary>Seed of every random choice: the same options give the same bytes. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Plants the devices are spread over. Default 15.</summary>
    public int Plants { get; init; } = 15;

    /// <summary>Devices (sources of data) over all plants: 40% screwing controllers, 20% machines, 20% meters, 20% process equipment. Default 3000.</summary>
    public int Devices { get; init; } = 3000;

    /// <summary>Distinct vehicles the screwing results name. Default 100,000.</summary>
    public int Vins { get; init; } = 100_000;

    /// <summary>Event time of the first message of each file. Default 2025-01-06T06:00:00Z.</summary>
    public DateTime Start { get; init; } = new(2025, 1, 6, 6, 0, 0, DateTimeKind.Utc);

    /// <summary>Event time between two messages of one file; each message of a file has its own time. Default 1 ms.</summary>
    public TimeSpan Spacing { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Throws an <see cref="ArgumentException"/> that says how to fix the first invalid setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            throw new ArgumentException("Directory is empty; give the folder the NDJSON files go to", nameof(Directory));
        }

        if (Messages < 0)
        {
            throw new ArgumentException($"Messages is {Messages}; give a count of 0 or more (default 2000000)", nameof(Messages));
        }

        if (Plants < 1)
        {
            throw new ArgumentException($"Plants is {Plants}; give at least 1 (default 15)", nameof(Plants));
        }

        if (Devices < 5 * Plants)
        {
            throw new ArgumentException($"Devices is {Devices}; give at least 5 per plant ({5 * Plants}) so that every plant has devices of every kind", nameof(Devices));
        }

        if (Vins < 1)
        {
            throw new ArgumentException($"Vins is {Vins}; give at least 1 (default 100000)", nameof(Vins));
        }

        if (Spacing <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Spacing is {Spacing}; give a positive time such as 1 ms, so that natural keys stay unique", nameof(Spacing));
        }

        if (Start.Kind != DateTimeKind.Utc)
        {
            throw new ArgumentException("Start must be a UTC time (DateTimeKind.Utc)", nameof(Start));
        }
    }
}

/// <summary>The known ways the workload breaks 1% of its messages.</summary>
public enum WorkloadBadKind
{
    /// <summary>A line cut in the middle: invalid JSON. Fails at the decode stage.</summary>
    InvalidJson,

    /// <summary>The model's identifying field (vin, machine, meter, equipment) is left out. Fails validation.</summary>
    MissingField,

    /// <summary>A number outside the model's range (torque 250, cycles -1, negative energy). Fails validation.</summary>
    OutOfRange,

    /// <summary>Text where a number is expected. Fails validation.</summary>
    WrongType,

    /// <summary>A value outside the model's enum (status, state, quality "MAYBE"). Fails validation.</summary>
    UnknownEnum,
}

/// <summary>A deliberately bad line: its 1-based line number in its file and how it is broken.</summary>
public readonly record struct WorkloadBadLine(long Line, WorkloadBadKind Kind);

/// <summary>One NDJSON file of the workload.</summary>
/// <param name="Model">The model its messages belong to.</param>
/// <param name="SourceId">The source of <c>bench.yaml</c> that reads it.</param>
/// <param name="BadLines">Every bad line, in order.</param>
public sealed record WorkloadFile(string Model, string SourceId, string Path, long Messages, long Bytes, IReadOnlyList<WorkloadBadLine> BadLines)
{
    public long BadMessages => BadLines.Count;

    /// <summary>Bad lines per kind, with a zero for the kinds that do not apply to the model.</summary>
    public IReadOnlyDictionary<WorkloadBadKind, long> BadByKind =>
        Enum.GetValues<WorkloadBadKind>().ToDictionary(k => k, k => (long)BadLines.Count(b => b.Kind == k));
}

/// <summary>What the generator wrote.</summary>
public sealed record WorkloadManifest(string Directory, IReadOnlyList<WorkloadFile> Files, TimeSpan Elapsed)
{
    public long Messages => Files.Sum(f => f.Messages);

    public long BadMessages => Files.Sum(f => f.BadMessages);

    public long Bytes => Files.Sum(f => f.Bytes);
}
