-- Avatar keys come from the database, in blocks of 1,000 a process takes at a time: processors of a cluster
-- creating avatars at once never hand out the same key. The store moves the sequence past the keys already
-- stored when it starts (an avatar written before this sequence existed keeps its key).
CREATE SEQUENCE avatar_keys INCREMENT BY 1000 MINVALUE 0 START WITH 0;
