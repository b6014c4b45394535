using Usine.Models;
using Usine.Sources;

namespace Usine.Pipeline;

/// <summary>
/// A custom step written in C#, run after validation and before contextualization: it can correct, enrich
/// or reject a record. A rejection becomes a dead letter at stage <see cref="DeadLetterStage.Step"/> with the
/// reason returned; an exception thrown does too, with its type.
/// </summary>
public interface IPipelineStep
{
    string Name { get; }

    bool AppliesTo(SourceDefinition source, DataModel model);

    /// <summary>Returns null to keep the record, or the reason it is rejected.</summary>
    string? Process(RecordDraft draft);
}

/// <summary>A record between validation and contextualization, as custom steps see it.</summary>
public sealed class RecordDraft
{
    internal RecordDraft(SourceDefinition source, DataModel model, FieldValue[] values, MessageView message)
    {
        Source = source;
        Model = model;
        Values = values;
        Message = message;
    }

    public SourceDefinition Source { get; }
    public DataModel Model { get; }
    public FieldValue[] Values { get; }
    public MessageView Message { get; }

    public FieldValue this[string field]
    {
        get => Values[IndexOrThrow(field)];
        set => Values[IndexOrThrow(field)] = value;
    }

    private int IndexOrThrow(string field)
    {
        var i = Model.IndexOf(field);
        return i >= 0 ? i : throw new ArgumentException($"model {Model.Ref} has no field '{field}'", nameof(field));
    }
}
