namespace Usine.Sources;

/// <summary>How a <see cref="SourceRunner"/> batches, retries and stops; a connector kind sets them from its options and the source's settings.</summary>
public sealed record SourceRunnerOptions
{
    /// <summary>Runner defaults: batches of 10000 messages or 50 ms, retries from 200 ms to 10 s, 5 s to drain on stop.</summary>
    public static SourceRunnerOptions Default { get; } = new();

    /// <summary>
    /// Most messages in one batch, and so in one transaction, counted by their <see cref="ReceivedMessage.Weight"/>
    /// (the records each is expected to make). Default 10000.
    /// </summary>
    public int BatchSize { get; init; } = 10_000;

    /// <summary>Longest a batch waits to fill before it is sent as it is. Default 50 ms.</summary>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Messages the connector may hand over before the runner takes them into a batch; when it is full the
    /// connector waits, and so stops taking more from its peer. Default: two batches.
    /// </summary>
    public int? BufferCapacity { get; init; }

    /// <summary>
    /// Whether a batch whose commit fails transiently is tried again (a live source: its messages stay
    /// unacknowledged meanwhile) rather than ending the run with the error (a push or an import, whose caller
    /// gets the error as its answer). Default true.
    /// </summary>
    public bool RetryTransientFaults { get; init; } = true;

    /// <summary>First wait before a batch (or the checkpoint read) is tried again; doubles up to <see cref="RetryMaxBackoff"/>. Default 200 ms.</summary>
    public TimeSpan RetryMinBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest wait between two attempts. Default 10 s.</summary>
    public TimeSpan RetryMaxBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// On stop, how long the runner may keep committing and acknowledging what it already took before it lets
    /// the connector close. What is left stays unacknowledged and comes again next time. Default 5 s.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether the runner sets the state of the job it is given (the stream job of a live source), besides adding
    /// each batch's counts; false for a bounded run whose caller says how its job ended. Default true.
    /// </summary>
    public bool SetsJobState { get; init; } = true;

    /// <summary>The buffer's capacity: <see cref="BufferCapacity"/>, or two batches.</summary>
    public int EffectiveBufferCapacity => BufferCapacity ?? 2 * BatchSize;

    /// <summary>Throws when a setting cannot work, saying which and how to fix it.</summary>
    public void Validate()
    {
        if (BatchSize < 1)
        {
            throw new ArgumentException($"{nameof(BatchSize)} must be at least 1, not {BatchSize}");
        }

        if (BatchWindow <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(BatchWindow)} must be positive, not {BatchWindow}");
        }

        if (BufferCapacity is < 1)
        {
            throw new ArgumentException($"{nameof(BufferCapacity)} must be at least 1 (leave it unset for two batches), not {BufferCapacity}");
        }

        if (RetryMinBackoff <= TimeSpan.Zero || RetryMaxBackoff < RetryMinBackoff)
        {
            throw new ArgumentException($"{nameof(RetryMinBackoff)} ({RetryMinBackoff}) must be positive and not longer than {nameof(RetryMaxBackoff)} ({RetryMaxBackoff})");
        }

        if (DrainTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(DrainTimeout)} must not be negative; use TimeSpan.Zero to stop without draining");
        }
    }
}

/// <summary>What a run committed, summed over its batches.</summary>
public sealed record SourceRunTotals(long Received, long Stored, long Duplicates, long DeadLetters);
