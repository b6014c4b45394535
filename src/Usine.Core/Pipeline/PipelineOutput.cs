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

    public void Clear()
    {
        Records.Clear();
        DeadLetters.Clear();
        NewAvatars.Clear();
        Links.Clear();
        Attributes.Clear();
        DuplicatesInBatch = 0;
    }
}
