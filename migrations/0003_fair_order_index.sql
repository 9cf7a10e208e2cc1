-- UPLOAD_ORDER=fair walks devices round-robin: the next device after the last one served, its oldest image.
CREATE INDEX images_state_device_received ON images (state, device_id, received_at, id);
