using Usine.Avatars;

namespace Usine.Tests.Storage;

/// <summary>A store whose commits wait for the test's go, so a batch can be observed inside the engine.</summary>
internal sealed class GatedStore(IRecordStore inner) : IRecordStore
{
    public TaskCompletionSource Entered { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Release { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Reset()
    {
        Entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken) => inner.InitializeAsync(definitions, cancellationToken);

    public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken) => inner.GetCheckpointAsync(streamId, cancellationToken);

    public Task LoadReferentialAsync(AvatarRegistry.Loader into, CancellationToken cancellationToken) =>
        inner.LoadReferentialAsync(into, cancellationToken);

    public async Task<CommitResult> CommitAsync(CommitBatch batch, CancellationToken cancellationToken)
    {
        Entered.TrySetResult();
        await Release.Task;
        return await inner.CommitAsync(batch, cancellationToken);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
