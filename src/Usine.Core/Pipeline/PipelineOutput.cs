using Usine.Avatars;

namespace Usine.Pipeline;

/// <summary>Everything one batch of raw messages turned into: records, dead letters, new avatars and links.</summary>
public sealed class PipelineOutput
{
    public List<Record> Records { get; } = [];
    public List<DeadLetter> DeadLetters { get; } = [];
    public List<Avatar> NewAvatars { get; } = [];
    public List<AvatarLinkEvent> Links { get; } = [];
    public List<AvatarAttributeChange> Attributes { get; } = [];

    /// <summary>Records dropped because an earlier message of the same batch had the same natural key.</summary>
    public int DuplicatesInBatch { get; set; }

    /// <summary>
    /// The messages the batch's raw messages decoded to, a raw message that could not be decoded counting as one:
    /// each became a record, a duplicate in the batch or a dead letter. Reconciliation holds the outcomes to it.
    /// </summary>
    public int Decoded { get; set; }

    public void Clear()
    {
        Records.Clear();
        DeadLetters.Clear();
        NewAvatars.Clear();
        Links.Clear();
        Attributes.Clear();
        DuplicatesInBatch = 0;
        Decoded = 0;
    }
}
